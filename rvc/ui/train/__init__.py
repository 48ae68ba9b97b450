"""The Train tab, one module per step: Step 1 :mod:`.experiment`, Step 2a :mod:`.dataset`, Step 2b :mod:`.features`,
Step 3 :mod:`.training` (model, index, model card and zip) and :mod:`.oneclick` (all of them in one job)."""
