"""Run MediaPipe Hands (legacy ``solutions.hands``, 0.10.14) on image files; one JSON line each.

Runs inside the realism environment (`make realism-env` -> .venv-realism), never the core one:

    .venv-realism/bin/python generator/audit/landmarker.py LIST.txt OUT.jsonl

LIST.txt names one image per line. Settings follow the realism benchmark: static images, at most
one hand, detection confidence 0.3, the full (complexity 1) landmark model that ships in the
wheel. Each output line: {"path", "landmarks": [[x, y, z] * 21] normalised to the image (edges
at 0 and 1) or null, "world": its world landmarks [[x, y, z] * 21] (metres, about the hand's centre;
benchmarks/landmarker_3d.py scores them) or null, "handedness": MediaPipe's label (it assumes a
mirrored image), "score"}.
Stand-alone on purpose: it imports nothing from the project.
"""
from __future__ import annotations

import json
import sys

MIN_DETECTION_CONFIDENCE = 0.3


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    import cv2
    import mediapipe as mp

    paths = [p for p in open(argv[0]).read().splitlines() if p]
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1,
                                  min_detection_confidence=MIN_DETECTION_CONFIDENCE) as hands, \
            open(argv[1], "w") as out:
        for path in paths:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                raise SystemExit(f"landmarker: cannot read image {path}")
            res = hands.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            rec = {"path": path, "landmarks": None, "world": None, "handedness": None, "score": None}
            if res.multi_hand_landmarks:
                rec["landmarks"] = [[p.x, p.y, p.z] for p in res.multi_hand_landmarks[0].landmark]
                rec["world"] = [[p.x, p.y, p.z] for p in res.multi_hand_world_landmarks[0].landmark]
                c = res.multi_handedness[0].classification[0]
                rec["handedness"], rec["score"] = c.label, float(c.score)
            out.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
