"""The tracker remembers hung-up account legs for a window (redirect detection), then forgets them."""
from controller.tracker import Tracker


def _hang_up_account_leg(tracker, uuid, at):
    leg = tracker.leg(uuid)
    leg.account = "1000"
    tracker.hangup(uuid, now=at)


def test_legs_are_forgotten_once_past_the_window_in_hangup_order():
    tracker = Tracker(keep_seconds=10)
    for i, at in enumerate((0.0, 1.0, 2.0)):
        _hang_up_account_leg(tracker, f"leg-{i}", at)
    tracker.prune(now=11.5)
    assert list(tracker.gone) == ["leg-2"]
    assert tracker.get("leg-0") is None and tracker.get("leg-2") is not None


def test_a_leg_hung_up_again_moves_to_the_end_of_the_window():
    tracker = Tracker(keep_seconds=10)
    _hang_up_account_leg(tracker, "early", 0.0)
    _hang_up_account_leg(tracker, "later", 5.0)
    _hang_up_account_leg(tracker, "early", 6.0)  # the leg came back (resync) and hung up again
    tracker.prune(now=15.5)
    assert list(tracker.gone) == ["early"]
