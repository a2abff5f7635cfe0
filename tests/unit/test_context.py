"""stack/context.py: what one run's task files hand each other."""

from stack import context


def test_each_run_has_a_context_of_its_own():
    first, second = type("State", (), {})(), type("State", (), {})()
    context.of(first).release = "r1"
    assert context.of(first).release == "r1" and context.of(second).release is None


def test_the_same_run_always_gets_the_same_context():
    run = type("State", (), {})()
    assert context.of(run) is context.of(run)
