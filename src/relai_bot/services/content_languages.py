"""The languages the commune's own content is written in (the one list): French, the language of the stored
columns (a scheme's name, a broadcast's text), and the others a text may also be given in, kept beside it
(`Scheme.texts`, `Broadcast.texts`). Each must have its resident texts too (templates/messages/<lang>/:
tests/seed/test_scheme_texts.py and tests/content/test_languages.py check both ways)."""

FRENCH = "fr"
OTHER_LANGUAGES = ("rcf",)
