"""The Gradio UI (the only part besides ``app.py`` that imports Gradio): :mod:`rvc.ui.app` builds the page from
one module per tab (:mod:`.infer`, :mod:`.jobs`) and, for the Train tab, one per step (:mod:`rvc.ui.train`);
:mod:`.context`, :mod:`.forms` and :mod:`.common` are what the tabs share, :mod:`.i18n` the translations. Nothing is
imported here, so the translations load without Gradio."""
