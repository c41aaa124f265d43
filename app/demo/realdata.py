"""The demo's refusal of real data: departments it did not make (it codes its own DEMO-…).

Every rating, complaint and work order belongs to a department, so a database whose departments
are all DEMO-… holds nothing but demo data (and whatever was tried out on it). Anything else is
refused unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.demo.centre import CODE_PREFIX


@dataclass(frozen=True, slots=True)
class Findings:
    """What a database holds that the demo did not make."""

    departments: int
    examples: list[str]
    ratings: bool
    complaints: bool


class RealDataFound(Exception):
    """The database holds real data and the load was not forced."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        super().__init__(refusal(findings))


def refusal(found: Findings) -> str:
    """The message that says what was found and how to proceed."""
    more = f", … ({found.departments} in all)" if found.departments > len(found.examples) else ""
    holding = [what for what, has in (("ratings", found.ratings), ("12345 complaints",
               found.complaints)) if has]  # fmt: skip
    with_data = f", with {' and '.join(holding)}" if holding else ""
    return (
        "refusing to load demo data: this database holds real data, departments the demo did "
        f"not make ({', '.join(found.examples)}{more}){with_data}. The demo adds departments "
        f"{CODE_PREFIX}001… with synthetic ratings, 12345 complaints and work orders, which would "
        "count in this centre's figures and rankings. Load it into an empty database instead "
        "(set DATABASE_URL, or HAOCHAPING_DATA_DIR for a fresh embedded one), or pass --force to "
        "load it here anyway."
    )


async def find_real_data(conn) -> Findings | None:
    """Departments not coded DEMO-… (and whether they have ratings or complaints); None if
    there are none."""
    pattern = CODE_PREFIX + "%"
    row = await conn.fetchrow(
        "SELECT count(*) AS n, (array_agg(code || ' ' || name ORDER BY code))[1:3] AS examples "
        "FROM department WHERE code NOT LIKE $1",
        pattern,
    )
    if not row["n"]:
        return None
    ratings = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM rating WHERE department_code NOT LIKE $1)", pattern
    )
    complaints = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM complaint WHERE department_code NOT LIKE $1)", pattern
    )
    return Findings(row["n"], list(row["examples"]), ratings, complaints)
