"""The network's contract: raw closes in, closes and quantiles out; normalization, shrinkage and
calibration inside; an untrained model is the random walk; days without news are masked."""

import numpy as np
import torch

from stock_assets.model.network import build_model


def inputs(batch=8, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    price = 100 * torch.exp(torch.cumsum(0.01 * torch.randn(batch, 30, 1, generator=g), dim=1))
    return price, torch.randn(batch, 30, dim, generator=g)


def trained_like(model, seed=1):
    """Random weights in the zero-initialised layers and a fitted-looking calibration."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model.head[-1], model.interval_head[-1]):
            layer.weight.copy_(0.5 * torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(0.5 * torch.randn(layer.bias.shape, generator=g))
        model.shrinkage.fill_(0.7)
        model.interval_scale.copy_(torch.tensor([[0.8, 1.0, 1.2, 0.9, 1.1], [1.3, 0.7, 1.0, 1.0, 0.6]]))
    return model.eval()


def test_an_untrained_model_is_the_random_walk():
    model = build_model("small", news_dim=12).eval()
    price, news = inputs()
    with torch.no_grad():
        forecast, quantiles = model(price, news)
    assert forecast.shape == (8, 5) and quantiles.shape == (8, 5, 3)
    torch.testing.assert_close(forecast, price[:, -1].expand(8, 5), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(quantiles[..., 1], forecast)
    # the untrained band is the historical-volatility band: wider for later horizons
    width = quantiles[..., 2] - quantiles[..., 0]
    assert (width[:, 1:] > width[:, :-1]).all()


def test_quantiles_are_ordered_for_random_and_extreme_inputs():
    model = trained_like(build_model("small", news_dim=12))
    price, news = inputs(batch=64, seed=3)
    cases = [(price, news), (price * torch.exp(torch.randn_like(price)), 100 * news), (torch.rand_like(price) * 1e-3, news)]
    with torch.no_grad():
        for p, n in cases:
            forecast, quantiles = model(p, n)
            assert (quantiles[..., 0] <= quantiles[..., 1]).all() and (quantiles[..., 1] <= quantiles[..., 2]).all()
            torch.testing.assert_close(quantiles[..., 1], forecast)


def test_scale_equivariance():
    model = trained_like(build_model("small", news_dim=12))
    price, news = inputs()
    with torch.no_grad():
        (base, base_q), (scaled, scaled_q) = model(price, news), model(10 * price, news)
    torch.testing.assert_close(scaled, 10 * base, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(scaled_q, 10 * base_q, rtol=1e-4, atol=1e-3)


def test_shrinkage_scales_the_predicted_log_returns():
    model = trained_like(build_model("small", news_dim=12))
    price, news = inputs()
    last = price[:, -1]
    with torch.no_grad():
        full = torch.log(model(price, news)[0] / last)
        model.shrinkage.mul_(0.5)
        half = torch.log(model(price, news)[0] / last)
        model.shrinkage.zero_()
        none = model(price, news)[0]
    torch.testing.assert_close(half, 0.5 * full, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(none, last.expand(8, 5))  # alpha = 0 serves the random walk


def test_any_finite_input_gives_finite_output():
    model = trained_like(build_model("small", news_dim=12))
    price, news = inputs()
    cases = [
        (torch.zeros_like(price), news),
        (-price, news),
        (price * 1e30, news * 1e30),
        (torch.cat([price[:, :-1], torch.zeros(8, 1, 1)], dim=1), news),
        (torch.full_like(price, 7.0), torch.zeros_like(news)),
    ]
    with torch.no_grad():
        for p, n in cases:
            forecast, quantiles = model(p, n)
            assert torch.isfinite(forecast).all() and torch.isfinite(quantiles).all()


def test_a_window_without_news_takes_the_price_only_path():
    news_model = trained_like(build_model("small", news_dim=12))
    price_model = build_model("small", news_dim=12, use_news=False).eval()
    missing = price_model.load_state_dict(news_model.state_dict(), strict=False)
    assert missing.missing_keys == []  # the price path's weights are shared
    price, news = inputs()
    with torch.no_grad():
        for got, expected in zip(news_model(price, torch.zeros_like(news)), price_model(price, news)):
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
        # with some news the output moves, and masked days' vectors are never looked at
        partial = news.clone()
        partial[:, :20] = 0
        other = partial.clone()
        other[:, 25:] = torch.randn(8, 5, 12)
        assert not torch.allclose(news_model(price, partial)[0], price_model(price, news)[0])
        assert not torch.allclose(news_model(price, partial)[0], news_model(price, other)[0])


def test_news_weight_zero_serves_the_price_path_whatever_the_news():
    news_model = trained_like(build_model("small", news_dim=12))
    price, news = inputs()
    with torch.no_grad():
        with_news = news_model(price, news)[0]
        news_model.news_weight.fill_(0.0)
        for got, expected in zip(news_model(price, news), news_model(price, torch.zeros_like(news))):
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
        assert not torch.allclose(with_news, news_model(price, news)[0])


def test_price_only_variant_ignores_news_and_has_no_news_weights():
    model = trained_like(build_model("small", news_dim=12, use_news=False))
    price, news = inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(price, news)[0], model(price, torch.randn_like(news))[0])
    assert not any(k.startswith(("news_projection", "cross_attention")) for k in model.state_dict())


def test_seed_architecture_dimensions():
    model = build_model("base", news_dim=768)
    assert model.price_embedding.in_features == 1 and model.price_embedding.out_features == 256
    assert model.news_projection.in_features == 768 and model.news_projection.out_features == 256
    assert len(model.encoder.layers) == 4 and model.encoder.layers[0].self_attn.num_heads == 8
    assert model.cross_attention.num_heads == 8
    assert [m.out_features for m in model.head if hasattr(m, "out_features")] == [128, 5]
    assert np.count_nonzero(model.head[-1].weight.detach().numpy()) == 0  # zero-initialised: the random walk


def with_tone(news, tone, present):
    """The sentiment variant's news input: the vectors, then per day (tone, has texts)."""
    channels = torch.stack([tone * present, present], dim=-1)
    return torch.cat([news, channels], dim=-1)


def test_the_sentiment_variant_starts_as_the_random_walk_and_then_follows_the_tone():
    model = build_model("small", news_dim=12, use_news=False, sentiment=True).eval()
    price, news = inputs()
    present = (torch.arange(30) >= 25).float().expand(8, 30)
    calm, cheerful = with_tone(news, torch.zeros(8, 30), present), with_tone(news, torch.full((8, 30), 0.8), present)
    with torch.no_grad():
        torch.testing.assert_close(model(price, cheerful)[0], price[:, -1].expand(8, 5), rtol=1e-6, atol=1e-6)
        model.sentiment_path.weight.fill_(0.5)  # as if training found good news lifts prices
        model.shrinkage.fill_(1.0)
        up = model(price, cheerful)[0] / model(price, calm)[0]
    assert (up > 1).all()
    # the news vectors themselves are ignored by the price + sentiment network
    with torch.no_grad():
        torch.testing.assert_close(model(price, with_tone(news * 0, torch.full((8, 30), 0.8), present))[0], model(price, cheerful)[0])
