"""Early warning (预警): alert rules set by supervisors, alerts raised once per episode by a job."""
