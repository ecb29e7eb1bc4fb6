"""The network's contract: raw closes in, closes out; normalization inside."""

import torch

from stock_assets.model.network import build_model


def inputs(batch=8, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    price = 100 * torch.exp(torch.cumsum(0.01 * torch.randn(batch, 30, 1, generator=g), dim=1))
    return price, torch.randn(batch, 30, dim, generator=g)


def test_scale_equivariance():
    model = build_model("small", news_dim=12).eval()
    price, news = inputs()
    with torch.no_grad():
        base, scaled = model(price, news), model(10 * price, news)
    assert base.shape == (8, 5)
    torch.testing.assert_close(scaled, 10 * base, rtol=1e-4, atol=1e-3)


def test_any_finite_input_gives_finite_output():
    model = build_model("small", news_dim=12).eval()
    price, news = inputs()
    cases = [
        (torch.zeros_like(price), news),
        (-price, news),
        (price * 1e30, news * 1e30),
        (torch.cat([price[:, :-1], torch.zeros(8, 1, 1)], dim=1), news),
    ]
    with torch.no_grad():
        for p, n in cases:
            assert torch.isfinite(model(p, n)).all()


def test_price_only_variant_ignores_news_and_has_no_news_weights():
    model = build_model("small", news_dim=12, use_news=False).eval()
    price, news = inputs()
    with torch.no_grad():
        torch.testing.assert_close(model(price, news), model(price, torch.randn_like(news)))
    assert not any(k.startswith(("news_projection", "cross_attention")) for k in model.state_dict())
    with_news = build_model("small", news_dim=12).eval()
    with torch.no_grad():
        assert not torch.allclose(with_news(price, news), with_news(price, torch.randn_like(news)))


def test_seed_architecture_dimensions():
    model = build_model("base", news_dim=768)
    assert model.price_embedding.in_features == 1 and model.price_embedding.out_features == 256
    assert model.news_projection.in_features == 768 and model.news_projection.out_features == 256
    assert len(model.encoder.layers) == 4 and model.encoder.layers[0].self_attn.num_heads == 8
    assert model.cross_attention.num_heads == 8
    assert [m.out_features for m in model.head if hasattr(m, "out_features")] == [128, 5]
