"""The check an LLM's text passes before it is shown: crafted replies with unsupported years,
numbers, companies, tickers, loops or a cut-off are withheld; a faithful restatement passes."""

from stock_serving.answer_check import check_llm_text

FACTS = """AAPL (Apple), December 2015: adjusted close 114.30 on 2015-11-30 → 101.70 on 2015-12-31, −11.0 % close to close.
SPY (the S&P 500) over the same sessions: −1.7 %.
Largest fall within the period: from 115.01 on 2015-12-04 to 101.70 on 2015-12-31 (−11.6 %).
- 2015-12-01 to 2015-12-31, 52 headlines (7 negative, 4 positive, 41 neutral): "iphone sales could send aapl stock skyrocketing in 2016"
2015-12-11 stocknet-twitter gm gains lift from mobile apps"""


def problems(text: str, cut_off: bool = False) -> list[str]:
    result = check_llm_text(text, FACTS, cut_off=cut_off)
    assert result.passed == (not result.problems)
    return result.problems


def test_a_faithful_restatement_passes():
    assert problems("Apple fell 11.6 % from December 4 to December 31, while the S&P 500 lost 1.7 %. "
                    "Most of the 52 headlines were neutral; some discussed iPhone sales in 2016.") == []


def test_unsupported_years_numbers_names_and_tickers_are_withheld():
    assert any("2017" in p for p in problems("Apple shows an upward trend into 2017."))
    assert any("12.4" in p for p in problems("Apple fell 12.4 % in December."))
    assert any("COVID" in p for p in problems("Headlines blamed the COVID-19 pandemic for the fall."))
    assert any("Tesla" in p for p in problems("Tesla earnings slams drove the holiday season."))
    assert any("$TSLA" in p for p in problems("Traders moved from $aapl to $tsla."))
    assert any("March" in p for p in problems("The fall began in March."))


def test_loops_and_cut_off_text_are_withheld():
    looped = "Google News Ads: Google News Ads: Google News Ads: Google News Ads: the headlines."
    assert any("loop" in p for p in problems(looped))
    assert any("cut off" in p for p in problems("Apple fell 11.6 % in December as the headlines"))
    assert any("cut off" in p for p in problems("Apple fell 11.6 % in December.", cut_off=True))
    assert any("repeated sentence" in p for p in problems("Apple fell in December. Apple fell in December."))


def test_invented_content_and_moves_against_their_sign_are_withheld():
    # what SmolLM2-135M wrote for "Why did AAPL fall in December 2015?" (it passed the names-and-numbers check)
    invented = ("The news for AAPL, December 2015, was about Apple Inc., with a story about its stock plummeted by 3.3% "
                "compared to previous days. The company's decision to change its online shopping platform led to a drop in sales.")
    found = check_llm_text(invented, FACTS + "\n- 2015-12-04: +3.3 % (close 115.01)").problems
    assert any("'plummeted'" in p for p in found) and any("'shopping'" in p for p in found), found
    assert any("3.3 % is said as a fall" in p for p in
               check_llm_text("Apple fell 3.3 % on December 4.", FACTS + "\n- 2015-12-04: +3.3 % (close 115.01)").problems)
    assert check_llm_text("Apple rose 3.3 % on December 4.", FACTS + "\n- 2015-12-04: +3.3 % (close 115.01)").passed


def test_a_possessive_and_the_verb_may_are_not_unsupported_names():
    assert problems("Apple's close may have dropped 11.6 % in December.") == []
    assert any("May" in p for p in problems("Apple fell 11.6 % in May."))
