"""What the retention endpoint answers."""

from pydantic import BaseModel


class RetentionRun(BaseModel):
    ratings: int
    complaints: int
    retention_days: int
    more: bool
