"""The paper's worked examples (Figures 4, 6 and 9) as records, shared by the format tests."""

NER = {
    "id": "fig4", "dataset": "demo", "task": "ner",
    "text": "Best wishes to Kevin , Therese & their family as they embark on the next stage of their lives . JG",
    "labels": ["location", "person", "organization"],
    "entities": [{"type": "person", "text": "Therese"}, {"type": "person", "text": "Kevin"},
                 {"type": "person", "text": "Kevin"}],
}

RE = {
    "id": "fig9", "dataset": "SciERC", "task": "re",
    "text": "Labeled data is replaced by a few hand-crafted rules that encode basic syntactic knowledge .",
    "labels": ["conjunction", "feature of", "hyponym of", "used for", "part of", "compare", "evaluate for"],
    "relations": [{"type": "used for", "head": "hand-crafted rules", "tail": "basic syntactic knowledge"}],
}

EE_TEXT = ("After 5 days of treatment with IL-2, the patient developed a hemorrhagic lesion that progressed to toxic "
           "epidermal necrolysis, as well as grade 4 pancytopenia.")

EE = {
    "id": "fig6", "dataset": "PHEE", "task": "ee", "text": EE_TEXT,
    "labels": {"potential therapeutic event": ["Subject", "Treatment"],
               "adverse event": ["Subject", "Effect", "Treatment", "Treatment.Drug", "Treatment.Time_elapsed"]},
    "events": [{"type": "adverse event", "trigger": "developed", "arguments": [
        {"role": "Subject", "text": "patient"},
        {"role": "Effect", "text": "a hemorrhagic lesion that progressed to toxic epidermal necrolysis, as well as "
                                   "grade 4 pancytopenia"},
        {"role": "Treatment", "text": "5 days of treatment with IL-2"},
        {"role": "Treatment.Drug", "text": "IL-2"},
        {"role": "Treatment.Time_elapsed", "text": "After 5 days"}]}],
}
