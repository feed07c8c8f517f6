"""Reports: the :class:`Report` model and one module per output format."""

from chaoskit.report.model import Durations, Failure, Report, ReportBuilder, ValidatorResult

__all__ = ["Durations", "Failure", "Report", "ReportBuilder", "ValidatorResult"]
