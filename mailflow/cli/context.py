"""What every command needs: settings (from --config or MAILFLOW_CONFIG) and, lazily, the database.

Nothing heavy is imported here: ``mailflow --help`` loads neither the configuration model nor the
database; a command that reads rows loads SQLAlchemy, and alembic only when the schema is behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailflow.config import Settings


@dataclass
class CliContext:
    config_path: Path | None
    _settings: Settings | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from mailflow.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from mailflow.database import engine_for, migrate

            self.settings.service.data_dir.mkdir(parents=True, exist_ok=True)
            self._engine = engine_for(self.settings)
            migrate(self._engine)
        return self._engine
