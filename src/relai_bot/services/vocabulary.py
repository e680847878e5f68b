"""The catalog's vocabulary: the situations and goals a scheme's rules name (the questionnaire, the ranking,
the seed file and the back-office all use these), and the form of a code (districts, venues, schemes)."""

from __future__ import annotations

import re
from typing import Literal, get_args

Situation = Literal[
    "jeune_sans_emploi_ni_formation",
    "demandeur_emploi",
    "demandeur_emploi_longue_duree",
    "beneficiaire_rsa",
    "rqth",
    "sans_diplome",
    "porteur_de_projet",
    "salarie",
    "residant_qpv",
]
Goal = Literal["emploi", "formation", "creation", "orientation", "mobilite"]
SITUATIONS: tuple[Situation, ...] = get_args(Situation)
GOALS: tuple[Goal, ...] = get_args(Goal)

# Lower-case letters, digits and dashes, 40 characters at most (they appear in links: short and stable)
CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
