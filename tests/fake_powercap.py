"""A fake powercap sysfs tree laid out like the kernel's, with counters set by hand.

Zones live under ``devices/<control type>/`` (subzones inside their package's directory);
the class directory ``class/powercap`` holds a link to the control type and one to every
zone, as on a real machine.
"""

from __future__ import annotations

from pathlib import Path

INTEL_RANGE_uJ = 262_143_328_850
"""``max_energy_range_uj`` of a typical Intel package: 2**32 energy units of 61.035 uJ."""


class FakePowercap:
    """Build zones with :meth:`add_zone`, move their counters with :meth:`set_energy`.

    Example::

        tree = FakePowercap(tmp_path)
        tree.add_zone("intel-rapl:0", "package-0", energy_uJ=5)
        discover_rapl(tree.root)
    """

    def __init__(self, base: Path) -> None:
        self.root = base / "class" / "powercap"
        self.root.mkdir(parents=True)
        self._devices = base / "devices"
        self._zone_dirs: dict[str, Path] = {}

    def add_zone(
        self, zone: str, name: str, *, energy_uJ: int = 0, max_range_uJ: int = INTEL_RANGE_uJ
    ) -> Path:
        """Create zone ``zone`` (e.g. ``"intel-rapl:0"`` or ``"intel-rapl:0:1"``) named ``name``."""
        control_type, _, numbers = zone.partition(":")
        parent = zone.rsplit(":", 1)[0] if numbers.count(":") else None
        if parent is None:
            control_dir = self._devices / control_type
            if not control_dir.exists():
                control_dir.mkdir(parents=True)
                (control_dir / "enabled").write_text("1\n")
                (self.root / control_type).symlink_to(control_dir)
            zone_dir = control_dir / zone
        else:
            zone_dir = self._zone_dirs[parent] / zone
        zone_dir.mkdir()
        (zone_dir / "name").write_text(f"{name}\n")
        (zone_dir / "max_energy_range_uj").write_text(f"{max_range_uJ}\n")
        (self.root / zone).symlink_to(zone_dir)
        self._zone_dirs[zone] = zone_dir
        self.set_energy(zone, energy_uJ)
        return zone_dir

    def set_energy(self, zone: str, energy_uJ: int) -> None:
        """Set the zone's ``energy_uj`` counter."""
        (self._zone_dirs[zone] / "energy_uj").write_text(f"{energy_uJ}\n")

    def path(self, zone: str, file: str) -> Path:
        """The real path of one of the zone's files."""
        return self._zone_dirs[zone] / file
