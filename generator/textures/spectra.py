"""Tabulated absorption spectra used by the skin optics model (visible range, 10 nm steps).

Haemoglobin: molar extinction coefficients e [cm^-1 / (mol/L)] of oxy- and deoxy-haemoglobin in
water, compiled by S. Prahl (1999, Oregon Medical Laser Center, "Optical absorption of
hemoglobin") from data of W. B. Gratzer and N. Kollias. Sampled here at 10 nm, 380-780 nm.
"""
from __future__ import annotations

import numpy as np

WAVELENGTHS_NM = np.arange(380.0, 781.0, 10.0)

# (lambda nm, HbO2, Hb) in cm^-1/M, Prahl 1999.
_HB = np.array([
    (380, 109564, 145232), (390, 167748, 167780), (400, 266232, 223296),
    (410, 466840, 303956), (420, 480360, 407560), (430, 246072, 528600),
    (440, 102580, 413280), (450, 62816, 103292), (460, 44480, 23388.8),
    (470, 33209.2, 16156.4), (480, 26629.2, 14550), (490, 23684.4, 16684),
    (500, 20932.8, 20862), (510, 20035.2, 25773.6), (520, 24202.4, 31589.6),
    (530, 39956.8, 39036.4), (540, 53236, 46592), (550, 43016, 53412),
    (560, 32613.2, 53788), (570, 44496, 45072), (580, 50104, 37020),
    (590, 14400.8, 28324.4), (600, 3200, 14677.2), (610, 1506, 9443.6),
    (620, 942, 6509.6), (630, 610, 5148.8), (640, 442, 4345.2),
    (650, 368, 3750.12), (660, 319.6, 3226.56), (670, 294, 2795.12),
    (680, 277.6, 2407.92), (690, 276, 2051.96), (700, 290, 1794.28),
    (710, 314, 1540.48), (720, 348, 1325.88), (730, 390, 1102.2),
    (740, 446, 1115.88), (750, 518, 1405.24), (760, 586, 1548.52),
    (770, 650, 1311.88), (780, 710, 1075.44),
])
assert np.array_equal(_HB[:, 0], WAVELENGTHS_NM)
EPS_HBO2 = _HB[:, 1]
EPS_HB = _HB[:, 2]

HB_GRAMS_PER_LITRE = 150.0     # haemoglobin in whole blood
HB_MOLAR_MASS = 64500.0        # g/mol (Prahl)


def blood_absorption_per_mm(oxygenation: float) -> np.ndarray:
    """Absorption coefficient of whole blood [mm^-1]: mu_a = ln(10) e c, c = 150 g/L / 64500 g/mol."""
    eps = oxygenation * EPS_HBO2 + (1.0 - oxygenation) * EPS_HB
    return np.log(10.0) * eps * HB_GRAMS_PER_LITRE / HB_MOLAR_MASS / 10.0  # cm^-1 -> mm^-1
