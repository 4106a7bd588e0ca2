"""The synthetic generator's clinical knowledge: latent conditions, their codes and medications.

Every code is a real code of its system: ICD-9-CM diagnoses (``4019`` essential hypertension,
``42731`` atrial fibrillation), ICD-9 procedures (``3893`` venous catheter) and ATC level-3 classes
(``C07A`` beta blockers). Probabilities are rough clinical impressions, not estimates from data.
Specs are ``"code:probability"`` strings so that the table reads like a formulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

# ~150 ATC3 classes, about the number MIMIC-III prescriptions reach.
ATC3_CLASSES: tuple[str, ...] = tuple(
    """
    A01A A02A A02B A03A A03B A03F A04A A05A A06A A07A A07B A07D A07E A08A A09A A10A A10B A11A A11B
    A11C A11D A11G A11H A12A A12B A12C A16A B01A B02A B02B B03A B03B B03X B05A B05B B05C B05D B05X
    B06A C01A C01B C01C C01D C01E C02A C02C C02D C03A C03B C03C C03D C04A C05A C05B C07A C08C C08D
    C09A C09B C09C C09D C10A D01A D02A D04A D05A D06A D07A D08A D10A D11A G01A G02C G03A G03C G04B
    G04C H01B H01C H02A H03A H03B H04A H05B J01A J01B J01C J01D J01E J01F J01G J01M J01X J02A J04A
    J05A J06B J07B L01A L01B L01X L02B L03A L04A M01A M02A M03A M03B M04A M05B N01A N01B N02A N02B
    N02C N03A N04A N04B N05A N05B N05C N06A N06B N06D N07A N07B N07X P01A P01B P02C R01A R02A R03A
    R03B R03C R03D R05C R05D R06A R07A S01A S01B S01E S01G S01X S02A V03A V04C V06D V08A
    """.split()
)


@dataclass(frozen=True)
class Condition:
    """A latent condition: how common it is and which codes and medications it drives.

    Args:
        name: a short label (never written to the export).
        weight: chronic: base prevalence per patient; acute: relative weight as admission reason.
        dx: ICD-9-CM codes with the probability each is coded at a visit.
        proc: ICD-9 procedure codes with the probability each is performed at a visit.
        meds: ATC3 classes with the probability each is prescribed for it.
        links: for chronic conditions, conditions earlier in the table that multiply its odds.
    """

    name: str
    weight: float
    dx: str
    proc: str = ""
    meds: str = ""
    links: dict[str, float] = field(default_factory=dict)


C = Condition
CHRONIC: tuple[Condition, ...] = (
    C("obesity", 0.08, "2780:.4 27801:.3 V8541:.2"),
    C("hypertension", 0.42, "4019:.9 4011:.03", meds="C07A:.5 C08C:.3 C09A:.35 C03A:.15 C09C:.1"),
    C(
        "diabetes",
        0.22,
        "25000:.75 25002:.15 25040:.1 25060:.1 3572:.05 V5867:.3",
        meds="A10A:.8 A10B:.3",
        links={"obesity": 2.5},
    ),
    C(
        "hyperlipidemia",
        0.25,
        "2724:.7 2720:.2 2722:.1",
        meds="C10A:.85",
        links={"hypertension": 1.5, "diabetes": 1.8},
    ),
    C(
        "ckd",
        0.08,
        "40390:.6 40391:.2 5859:.5 5853:.2 5854:.15",
        meds="C03C:.35 V03A:.3 B03X:.25 A11C:.2",
        links={"hypertension": 2.0, "diabetes": 2.0},
    ),
    C(
        "cad",
        0.18,
        "41401:.9 412:.3 V4582:.2 V4581:.2",
        "8856:.1 0066:.08",
        "B01A:.6 C10A:.6 C07A:.5 C01D:.3",
        {"hypertension": 1.8, "hyperlipidemia": 2.0},
    ),
    C(
        "afib",
        0.14,
        "42731:.95 42732:.05 V5861:.3",
        meds="B01A:.8 C07A:.55 C08D:.25 C01A:.2 C01B:.2",
        links={"cad": 1.6, "hypertension": 1.3},
    ),
    C(
        "chf",
        0.12,
        "4280:.8 42832:.2 42822:.1 4254:.05",
        meds="C03C:.85 C07A:.4 C09A:.35 C03D:.15 C01A:.1",
        links={"cad": 2.0, "afib": 2.0},
    ),
    C(
        "copd",
        0.09,
        "496:.6 4928:.2 49121:.2 V1582:.3",
        "9390:.1",
        "R03A:.7 R03B:.6 H02A:.4 R03D:.05",
    ),
    C("asthma", 0.05, "49390:.85 49392:.1", meds="R03A:.8 R03B:.3 H02A:.3 R06A:.2"),
    C("hypothyroidism", 0.08, "2449:.9 2448:.1", meds="H03A:.9"),
    C("depression", 0.10, "311:.8 2962:.1", meds="N06A:.85 N05A:.1"),
    C("anxiety", 0.07, "30000:.9", meds="N05B:.8 N06A:.3", links={"depression": 2.0}),
    C("gerd", 0.14, "53081:.9 5301:.1", meds="A02B:.9 A02A:.1"),
    C("chronic_pain", 0.07, "7159:.6 7242:.3 33829:.2", meds="N02A:.5 M01A:.3 N02B:.5 N03A:.15"),
    C("dementia", 0.04, "3310:.5 2900:.3 2948:.2", meds="N06D:.6 N05A:.3"),
    C("epilepsy", 0.03, "34590:.7 78039:.3", meds="N03A:.95 N05B:.3"),
    C("alcohol", 0.06, "3051:.5 30390:.3 30500:.4 2910:.1", meds="A11D:.7 N05B:.6 B03B:.5"),
    C(
        "cirrhosis",
        0.02,
        "5715:.6 5712:.4 5723:.2 7895:.3",
        "5491:.3 4513:.2",
        "A06A:.8 A07A:.5 C03D:.5 C03C:.3 C07A:.2",
        {"alcohol": 6.0},
    ),
    C("anemia", 0.10, "2859:.6 2800:.2 2809:.2", meds="B03A:.5 B03B:.2", links={"ckd": 2.0}),
    C("bph", 0.05, "60000:.9", meds="G04C:.8"),
    C("parkinson", 0.02, "3320:.95", meds="N04B:.9 N04A:.1"),
    C(
        "cancer",
        0.06,
        "1629:.3 1539:.2 1749:.15 185:.2 1977:.15 1983:.1 V1046:.1",
        "9925:.15",
        "L01X:.15 L01B:.1 L02B:.1 A04A:.5 N02A:.5 H02A:.3",
    ),
    C("osteoporosis", 0.04, "73300:.9", meds="M05B:.7 A12A:.6 A11C:.5"),
    C("gout", 0.04, "2749:.9", meds="M04A:.9"),
    C("glaucoma", 0.03, "36510:.9", meds="S01E:.9"),
)

ACUTE: tuple[Condition, ...] = (
    C(
        "pneumonia",
        1.0,
        "486:.8 5070:.15 4821:.05",
        "9604:.2 9671:.2",
        "J01D:.7 J01C:.35 J01F:.35 J01X:.3 R05C:.2 J01M:.2",
    ),
    C(
        "sepsis",
        0.8,
        "0389:.85 99591:.5 99592:.4 78552:.3",
        "3893:.7 3891:.5 9604:.3 9672:.2",
        "J01X:.8 J01D:.6 J01C:.4 C01C:.6 B05B:.5 H02A:.2 J02A:.1",
    ),
    C("aki", 0.6, "5849:.9 5845:.1", "3995:.2 3895:.2", "B05B:.6 B05X:.4 V03A:.2 A12C:.2"),
    C(
        "ami",
        0.7,
        "41071:.7 41041:.2 41011:.1",
        "3722:.6 8856:.6 0066:.5 3606:.4 0045:.3 0040:.3",
        "B01A:.95 C10A:.8 C07A:.7 C01D:.5 C09A:.4 N02A:.3",
    ),
    C("chf_exacerbation", 0.5, "42823:.6 42833:.4 4280:.3", "8872:.3", "C03C:.95 C09A:.3 C01C:.1"),
    C(
        "stroke",
        0.4,
        "43491:.5 43411:.2 431:.2 34290:.2 7843:.3 78720:.2",
        "8703:.4 8891:.2 4311:.1",
        "B01A:.7 C10A:.6 N03A:.2 C08C:.3",
    ),
    C(
        "gi_bleed",
        0.4,
        "5789:.5 5780:.2 5781:.2 2851:.7",
        "4513:.6 9904:.7 4443:.2",
        "A02B:.95 H01B:.2 B05A:.3 C01C:.1",
    ),
    C(
        "resp_failure",
        0.6,
        "51881:.8 51882:.1 79902:.2",
        "9604:.6 9671:.4 9672:.4 3891:.4 9390:.2",
        "R03A:.6 H02A:.6 J01F:.3 N05C:.3 N01A:.4",
    ),
    C("uti", 0.5, "5990:.95 0414:.3", meds="J01M:.4 J01D:.4 J01E:.2 G04B:.1"),
    C("vte", 0.25, "41519:.5 45341:.5 45342:.1", "3893:.2 387:.1", "B01A:.95"),
    C(
        "cardiac_surgery",
        0.5,
        "41401:.9 4241:.3 4240:.2 9971:.1 2851:.4",
        "3961:.95 3615:.6 3612:.3 3521:.2 8872:.3 3893:.5 3891:.6 9604:.4 9671:.4",
        "B01A:.9 C07A:.8 C01C:.7 N02A:.9 N02B:.8 C03C:.7 A12C:.8 J01D:.9 A06A:.7 C01B:.3 N01A:.6",
    ),
    C(
        "trauma",
        0.5,
        "E8889:.6 8208:.2 85200:.2 8600:.1 80700:.1 E8859:.3 9248:.1",
        "7935:.2 8703:.4 9604:.2 3893:.3",
        "N02A:.9 N02B:.7 B01A:.5 J01D:.4 N03A:.2 M03B:.1",
    ),
    C("dka", 0.15, "25013:.5 25011:.2 25080:.3 2762:.5", meds="A10A:.95 B05B:.8 A12B:.8 A12C:.5"),
    C("pancreatitis", 0.15, "5770:.9", "9915:.3", "N02A:.9 B05B:.7 J01D:.2 A02B:.3"),
    C("overdose", 0.1, "96500:.3 9694:.3 E9500:.4 30500:.3", meds="V03A:.7 N05A:.2 N07B:.2"),
    C("cellulitis", 0.2, "6826:.6 6823:.2 6829:.2", "8604:.3", "J01X:.7 J01C:.4 J01D:.3 D06A:.2"),
    C(
        "bowel_surgery",
        0.25,
        "5609:.6 5601:.1 9974:.3 1539:.2",
        "4573:.2 4562:.2 5459:.2 9915:.3 9607:.5",
        "A03F:.5 A04A:.6 N02A:.8 J01D:.4 J01X:.2 B05B:.5 N01A:.5",
    ),
    C("electrolytes", 0.3, "2761:.6 2768:.3 2752:.2 2767:.1", meds="A12C:.8 B05X:.6 A12B:.2"),
    C("delirium", 0.2, "2930:.5 34839:.3 78097:.3", meds="N05A:.8 N05C:.3"),
    C("coagulopathy", 0.15, "2875:.6 2869:.4", "9905:.5 9907:.3", "B02B:.5 B05A:.4 B02A:.2"),
    C("shock", 0.2, "4589:.6 78551:.3", "3893:.6", "C01C:.9 B05B:.6 H02A:.2"),
)

# Inpatient routine: analgesia, acid suppression, bowel care, DVT prophylaxis, electrolytes.
ROUTINE_MEDS = "N02B:.65 A02B:.45 A06A:.5 B01A:.45 B05X:.4 A12C:.4 N02A:.3 A04A:.3 B05B:.3 N05C:.2"
ROUTINE_PROCS = "3893:.3 9604:.12 9671:.1 9672:.07 3891:.12 9904:.1 9915:.04 8872:.05 9390:.04"

# ICD-9-CM chapters (first three characters, numeric part), for the long tail of rare codes.
DX_CHAPTERS: tuple[tuple[str, int, int], ...] = (
    ("", 1, 139),
    ("", 140, 239),
    ("", 240, 279),
    ("", 280, 289),
    ("", 290, 319),
    ("", 320, 389),
    ("", 390, 459),
    ("", 460, 519),
    ("", 520, 579),
    ("", 580, 629),
    ("", 680, 709),
    ("", 710, 739),
    ("", 780, 799),
    ("", 800, 999),
    ("V", 1, 91),
    ("E", 800, 999),
)


def parse_spec(spec: str) -> list[tuple[str, float]]:
    """Parse ``"code:prob code:prob"`` into pairs.

    >>> parse_spec("4019:.8 25000:.5")
    [('4019', 0.8), ('25000', 0.5)]
    """
    pairs = []
    for item in spec.split():
        code, prob = item.split(":")
        pairs.append((code, float(prob)))
    return pairs


@cache
def condition_index() -> dict[str, Condition]:
    """Return every condition by name."""
    return {c.name: c for c in CHRONIC + ACUTE}
