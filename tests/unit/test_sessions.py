"""The three pytest sessions of `make test` (tests/sessions.py), on its own lists."""
from tests.sessions import APART, OUTAGES, missing, plan, summary


def test_every_path_a_session_names_exists_and_none_is_in_two_sessions():
    assert missing(APART + OUTAGES) == []
    for a in APART:
        for o in OUTAGES:
            assert not (a == o or o.startswith(a + "/") or a.startswith(o + "/")), (a, o)


def test_the_main_session_runs_every_test_the_others_do_not():
    commands = plan(["-x"])
    main = commands["main"]
    assert main[-1] == "tests" and "-x" in main
    assert sorted(a[len("--ignore="):] for a in main if a.startswith("--ignore=")) == \
        sorted(APART + OUTAGES)
    assert commands["apart"][-len(APART):] == list(APART)
    assert commands["outages"][-len(OUTAGES):] == list(OUTAGES)


def test_the_summary_names_each_session_its_outcome_and_time():
    assert summary({"main": 0, "apart": 1, "outages": 0},
                   {"main": 1800.4, "apart": 1500, "outages": 240.6}) == \
        "main passed in 1800 s, apart FAILED (exit 1) in 1500 s, outages passed in 241 s"
