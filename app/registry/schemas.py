import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.limits import InputModel
from app.registry.models import REGION_CODE_PATTERN
from app.timefmt import LocalDateTime

Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
_REGION = "行政区划代码 (GB/T 2260): 6 to 12 digits, e.g. 421102"


class DepartmentIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["市场监督管理局"])
    parent_code: str | None = Field(default=None, min_length=1, max_length=64)
    region_code: str | None = Field(default=None, pattern=REGION_CODE_PATTERN, description=_REGION)
    active: bool = True


class DepartmentUpdate(InputModel):
    """A partial update: only the fields given change; null is not a value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="null detaches it from its parent"
    )
    region_code: str | None = Field(
        default=None, pattern=REGION_CODE_PATTERN, description=f"{_REGION}; null clears it"
    )
    active: bool | None = None


class DepartmentImportItem(DepartmentIn):
    code: str = Code


class DepartmentImport(InputModel):
    model_config = ConfigDict(extra="forbid")

    departments: list[DepartmentImportItem] = Field(min_length=1, max_length=1000)


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    parent_code: str | None
    region_code: str | None
    active: bool
    created_at: LocalDateTime
    updated_at: LocalDateTime


class ImportResult(BaseModel):
    created: int
    updated: int
    departments: list[DepartmentOut]


class WindowIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["综合受理窗口"])
    active: bool = True


class WindowUpdate(InputModel):
    """A partial update of a window: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class WindowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    department_code: str
    window_no: str
    name: str
    active: bool
    created_at: LocalDateTime
    updated_at: LocalDateTime


class DeviceIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    serial_no: str = Field(min_length=1, max_length=64, examples=["PJQ-2024-000123"])
    department_code: str = Field(min_length=1, max_length=64)
    window_no: str = Field(min_length=1, max_length=32)


class DeviceUpdate(InputModel):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = None
    department_code: str | None = Field(default=None, min_length=1, max_length=64)
    window_no: str | None = Field(default=None, min_length=1, max_length=32)


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    serial_no: str
    department_code: str
    window_no: str
    client_id: uuid.UUID
    active: bool
    created_at: LocalDateTime
    updated_at: LocalDateTime


class DeviceCreated(DeviceOut):
    key: str = Field(description="The device's API key. Shown only in this response.")
    key_id: uuid.UUID


StaffId = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", examples=["0123"])


class StaffIn(InputModel):
    """A staff member (工作人员) as the ratings name them: by 工号."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["张三"])
    department_code: str | None = Field(default=None, min_length=1, max_length=64)
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    active: bool = True


class StaffImportItem(StaffIn):
    staff_id: str = StaffId


class StaffImport(InputModel):
    model_config = ConfigDict(extra="forbid")

    staff: list[StaffImportItem] = Field(min_length=1, max_length=5000)


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    staff_id: str
    name: str
    department_code: str | None
    window_no: str | None
    active: bool
    created_at: LocalDateTime
    updated_at: LocalDateTime


class StaffImportResult(BaseModel):
    created: int
    updated: int
    staff: list[StaffOut]
