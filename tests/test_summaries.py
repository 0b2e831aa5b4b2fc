"""ppo.summaries: TensorBoard event files with every metric, the evaluation and the figures."""
import numpy as np
from PIL import Image

from ppo.summaries import EventLog, read_events


def test_event_file_holds_metrics_evaluation_and_image(tmp_path):
    log = EventLog(tmp_path)
    for i in (1, 2):
        log.scalars({"iteration": i, "env_steps": 100 * i, "loss": 0.5 / i, "success_rate": None,
                     "learning_rate": 3e-4})
    Image.fromarray(np.full((8, 12, 3), 200, np.uint8)).save(tmp_path / "curve.png")
    log.image("learning_curve", tmp_path / "curve.png", 200)
    log.evaluation({"base_plus_residual": {"plausible_success_rate": 0.75, "ci95": [0.6, 0.85]}}, 200)
    log.close()
    events = read_events(tmp_path)
    scalars = {(v.tag, e.step): v.simple_value for e in events for v in e.summary.value
               if v.HasField("simple_value")}
    assert scalars[("train/loss", 100)] == 0.5 and scalars[("train/loss", 200)] == 0.25
    assert ("train/learning_rate", 200) in scalars
    assert not any(tag == "train/success_rate" for tag, _ in scalars)  # None: no episode ended
    assert abs(scalars[("eval/base_plus_residual/plausible_success_rate", 200)] - 0.75) < 1e-7
    tags = {v.tag for e in events for v in e.summary.value}
    assert "learning_curve" in tags and any(t.startswith("eval/summary") for t in tags)
    image = next(v.image for e in events for v in e.summary.value if v.tag == "learning_curve")
    assert (image.width, image.height) == (12, 8)
