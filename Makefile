# Developer shortcuts. The README's two commands are the supported entry points.
PY := .venv/bin/python
BABEL := .venv/bin/pybabel
SOURCES := app.py cli.py formats.py views models jobs digitalpost sandbox templates

.PHONY: translations compile-translations
translations:  ## extract strings and merge them into the catalogs
	$(BABEL) extract -F babel.cfg -k _l -k lazy_gettext -k plural:1,2 -k N_ -k Np_:1,2 --no-location --sort-output -o translations/messages.pot $(SOURCES)
	$(BABEL) update -i translations/messages.pot -d translations --no-fuzzy-matching

compile-translations:
	$(BABEL) compile -d translations
