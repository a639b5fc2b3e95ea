"""Building the plugin manager and calling hooks safely.

A hook implementation that raises is reported with its plugin's name and
skipped; only a conflict in what plugins declare (two domains with one code,
two different layers with one code, one external label for two event types)
stops start-up, because the platform cannot decide which one is meant.

Domain-scoped hooks (``hookspecs.DOMAIN_SCOPED``) are called only on the
plugin that declared the domain, then on the core's defaults: the host
remembers who declared what at start-up, so a plugin can neither see nor
capture another domain's alerts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Iterable, Mapping

import pluggy

from webapp import default_plugin, hookspecs
from webapp.notify import notifiers
from webapp.plugin_api import (
    PROJECT_NAME,
    AlertView,
    Detector,
    Domain,
    GisContext,
    GisLayer,
    Notifier,
    Prejudgement,
    Routing,
    RoutingContext,
)

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "nrsc.plugins"
# The core's own plugins (registered in build_plugin_host): they answer every
# domain-scoped call after the owner, as the defaults.
CORE_PLUGINS = frozenset({"core-defaults", "core-notifiers"})


class PluginError(RuntimeError):
    """A plugin problem that stops start-up."""


@dataclass
class PluginFailure:
    plugin: str
    hook: str
    error: str


@dataclass
class PluginHost:
    """The plugin manager plus the registries built from it at start-up."""

    pm: pluggy.PluginManager
    domains: dict[str, Domain] = field(default_factory=dict)
    detectors: dict[str, Detector] = field(default_factory=dict)
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    gis_layers: dict[str, GisLayer] = field(default_factory=dict)
    # domain code -> the name of the plugin that declared it
    owners: dict[str, str] = field(default_factory=dict)
    # external label (e.g. Frigate's "smoke") -> (domain code, event type code)
    external_labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    # -- calling -------------------------------------------------------------
    def _call(self, hook_name: str, *, firstresult: bool, only: frozenset[str] | None = None,
              **kwargs: Any) -> Any:
        """Call each implementation alone, newest first like pluggy, so that a
        failing one is named and skipped instead of breaking the call.
        ``only`` limits the call to the implementations of those plugins."""
        caller = getattr(self.pm.hook, hook_name)
        results = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue  # wrappers need pluggy's own call loop; not part of the contract
            if only is not None and impl.plugin_name not in only:
                continue
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception as exc:  # noqa: BLE001 - any plugin bug must be contained
                self._fail(impl.plugin_name, hook_name, exc)
                continue
            if result is None:
                continue
            if firstresult:
                return result
            results.append(result)
        return None if firstresult else results

    def _fail(self, plugin: str, hook: str, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        log.error("plugin %s failed in %s: %s", plugin, hook, message,
                  exc_info=log.isEnabledFor(logging.DEBUG) and exc)
        self.failures.append(PluginFailure(plugin, hook, message))
        del self.failures[:-100]

    def _scope(self, domain: str) -> frozenset[str]:
        """Who may answer for ``domain``: its owner and the core's defaults."""
        owner = self.owners.get(domain)
        return CORE_PLUGINS | {owner} if owner else CORE_PLUGINS

    def route(self, alert: AlertView, context: RoutingContext) -> Routing | None:
        return self._call("route_alert", firstresult=True, only=self._scope(alert.domain),
                          alert=alert, context=context)

    def prejudge(self, alert: AlertView, context: GisContext) -> Prejudgement | None:
        return self._call("prejudge_alert", firstresult=True, only=self._scope(alert.domain),
                          alert=alert, context=context)

    def checklist(self, alert: AlertView) -> list[str]:
        lists = self._call("review_checklist", firstresult=False, only=self._scope(alert.domain),
                           alert=alert)
        return [line for lines in reversed(lists) for line in lines]

    def workorder_template(self, domain: str) -> str:
        return self._call("workorder_template", firstresult=True, only=self._scope(domain),
                          domain=domain) or "orders/pdf/base.html"

    def domain(self, code: str) -> Domain | None:
        return self.domains.get(code)

    def domains_of_group(self, number: int) -> tuple[str, ...]:
        """The codes of the domains a working group handles (from the plugins)."""
        return tuple(code for code, d in self.domains.items() if d.working_group == number)

    # -- start-up ------------------------------------------------------------
    def collect(self, settings: Mapping[str, Any]) -> None:
        domain_pairs = self._call_named("register_domains")
        self.domains = _unique(domain_pairs, "code", "domain code")
        self.owners = {item.code: plugin for plugin, item in domain_pairs}
        self.external_labels = _external_labels(domain_pairs)
        self.gis_layers = _merged(self._call_named("register_gis_layers"), "code", "GIS layer")
        self.detectors = _unique(
            self._call_named("register_detectors", settings=settings.get("NRSC_DETECTORS", {})),
            "name", "detector name")
        self.notifiers = _unique(
            self._call_named("register_notifiers", settings=settings.get("NRSC_NOTIFIERS", {})),
            "channel", "notifier channel")

    def refresh_detectors(self, settings: Mapping[str, Any]) -> None:
        """Collect the detectors again (a model was switched on or off)."""
        self.detectors = _unique(
            self._call_named("register_detectors", settings=settings.get("NRSC_DETECTORS", {})),
            "name", "detector name")

    def _call_named(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """(plugin name, item) pairs from a list-returning hook."""
        caller = getattr(self.pm.hook, hook_name)
        pairs = []
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                items = impl.function(**{n: kwargs[n] for n in impl.argnames}) or []
            except Exception as exc:  # noqa: BLE001
                self._fail(impl.plugin_name, hook_name, exc)
                continue
            pairs.extend((impl.plugin_name, item) for item in items)
        return pairs


def _unique(pairs: Iterable[tuple[str, Any]], attr: str, what: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for plugin, item in pairs:
        key = getattr(item, attr)
        if key in seen:
            raise PluginError(
                f"{what} {key!r} is declared by both plugin {owner[key]!r} and plugin {plugin!r}; "
                f"uninstall or rename one of them")
        seen[key], owner[key] = item, plugin
    return seen


def _merged(pairs: Iterable[tuple[str, Any]], attr: str, what: str) -> dict[str, Any]:
    """Like :func:`_unique`, but identical declarations by several plugins are
    one item (plugins that read a shared layer each declare it)."""
    seen: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for plugin, item in pairs:
        key = getattr(item, attr)
        if key in seen and seen[key] != item:
            raise PluginError(
                f"{what} {key!r} is declared differently by plugin {owner[key]!r} ({seen[key]}) "
                f"and plugin {plugin!r} ({item}); make the declarations identical or rename one")
        seen.setdefault(key, item)
        owner.setdefault(key, plugin)
    return seen


def _external_labels(pairs: Iterable[tuple[str, Domain]]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for plugin, domain in pairs:
        for event in domain.event_types:
            for label in event.external_labels:
                if label in found and found[label] != (domain.code, event.code):
                    raise PluginError(
                        f"external label {label!r} is claimed by {'/'.join(found[label])} and by "
                        f"{domain.code}/{event.code} (plugin {plugin!r}); one label, one event type")
                found[label] = (domain.code, event.code)
    return found


def build_plugin_host(
    *,
    load_entrypoints: bool = True,
    plugins: Iterable[Any] = (),
    settings: Mapping[str, Any] | None = None,
    disabled: Iterable[str] = (),
) -> PluginHost:
    """Build the manager: core defaults, then entry points, then ``plugins``."""

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(default_plugin, name="core-defaults")
    pm.register(notifiers, name="core-notifiers")
    from webapp.detection import plugin as learned_models
    pm.register(learned_models, name="core-models")
    host = PluginHost(pm)
    disabled = set(disabled)
    if load_entrypoints:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in disabled or pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - report and go on without it
                host._fail(ep.name, f"import of {ep.value}", exc)
                continue
            try:
                pm.register(module, name=ep.name)
            except pluggy.PluginValidationError as exc:
                # A hook with arguments the spec lacks; pluggy adds nothing then.
                host._fail(ep.name, "register", exc)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register(plugin, name=name)
    host.collect(settings or {})
    return host
