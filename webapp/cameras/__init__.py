"""Cameras (高空看): ONVIF control, frame capture, patrol, health, evidence
clips and retention, checkpoint passages, coverage, and their pages.

Modules: :mod:`.credentials` (the one way to read a camera's secrets),
:mod:`.adapter` (onvif-zeep, contained), :mod:`.capture` (snapshots and
streams), :mod:`.patrol`, :mod:`.health`, :mod:`.clips`, :mod:`.retention`,
:mod:`.passages`, :mod:`.coverage`, :mod:`.jobs` (background job wiring),
:mod:`.views` (the blueprint)."""
