"""The live loss curve of notebook 07: hooks collect what train() reports, redraws are throttled."""

from __future__ import annotations

import matplotlib

from course_lib.widgets.training import LiveLoss

matplotlib.use("Agg")


def test_live_loss_collects_steps_and_rows_per_run_and_draws_them():
    live = LiveLoss(every_s=3600.0, show=False)
    on_step, on_record = live.hooks("vp")
    for step, loss in enumerate((1.0, 0.6, 0.4), start=1):
        on_step(step, loss)
    on_record({"step": 3, "val_loss": 0.5})
    other_step, _ = live.hooks("ve-edm")
    other_step(1, 0.9)
    assert live.step_losses == {"vp": [1.0, 0.6, 0.4], "ve-edm": [0.9]}
    assert live.histories["vp"] == [{"step": 3, "val_loss": 0.5}]
    fig = live.figure()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["VP train (per step)", "VP validation", "VE-EDM train (per step)"]


def test_redraws_wait_for_the_interval():
    live = LiveLoss(every_s=3600.0, show=False)
    on_step, _ = live.hooks("vp")
    live.draw()
    drawn_at = live._last_draw
    on_step(1, 1.0)  # within the interval: no redraw
    assert live._last_draw == drawn_at
    live.every_s = 0.0
    on_step(2, 0.5)
    assert live._last_draw > drawn_at
