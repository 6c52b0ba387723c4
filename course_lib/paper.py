"""Reference numbers, in one place: the paper's Table 1, published PushT results and the CPU
calibration of ../shared/CALIBRATION.md. Facts only; nothing here computes.
"""

from __future__ import annotations

#: The paper's Table 1 (average goal coverage, N = 50 episodes), per SDE and solver.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "vp": {"euler": 0.780, "heun": 0.786, "em": 0.802},
    "ve": {"euler": 0.108, "heun": 0.105, "em": 0.524},
    "cld": {"euler": 0.405, "em": 0.311},
}

#: Which corrected process replaces which of the paper's rows: each keeps the paper's forward
#: process and changes the network's parameterisation, loss weight and training-time law.
CORRECTION_OF: dict[str, str] = {"vp": "vp-edm", "ve": "ve-edm", "cld": "cld-hsm"}

#: Published state-based PushT results: (mean score, success rate or None).
PUBLISHED_PUSHT: dict[str, tuple[float, float | None]] = {
    "Diffusion Policy, CNN (best checkpoint)": (0.95, None),
    "LeRobot diffusion policy": (0.959, 0.638),
}

#: ../shared/CALIBRATION.md: a from-scratch 1-D temporal U-Net on a 2-core CPU, EMA weights,
#: DDIM 10: minutes of training -> (mean score, success rate or None).
CALIBRATION_TIME_TO_SCORE: dict[str, dict[float, tuple[float, float | None]]] = {
    "U-Net, lr 3e-4, 25 min cosine": {
        2.5: (0.490, None),
        5.0: (0.819, 0.08),
        7.5: (0.932, 0.24),
        10.0: (0.963, 0.37),
    },
    "U-Net, lr 1e-3, 12.5 min cosine": {
        2.5: (0.630, None),
        5.0: (0.847, 0.15),
        7.5: (0.910, 0.35),
        10.0: (0.986, 0.53),
    },
}
