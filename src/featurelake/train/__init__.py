"""Train: models declared as data are trained on pinned training sets; the champion decision lives here."""
