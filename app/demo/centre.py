"""A synthetic service centre: departments, windows, staff, ratings and 12345 complaints.

Departments with Chinese names (codes DEMO-001…, so that they never take a real department's
code), windows and staff; channels weighted like a hall with tablets; levels skewed as real data
are (about 99% 好评); 差评 with reasons and a comment, most from real-name raters, each with its
work order walked by lifecycle.py; a few ratings carrying integrity flags. Times fall in office
hours, Asia/Shanghai.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.config import BUSINESS_TZ
from app.demo.lifecycle import walk
from app.demo.order import Order
from app.demo.walker import Walker
from app.privacy import Keyring
from app.workorders.categories import COMPLAINT_CATEGORIES as REASON_CATEGORIES

CODE_PREFIX = "DEMO-"
DEPARTMENT_NAMES = [
    "市场监督管理局", "人力资源和社会保障局", "公安局", "税务局", "不动产登记中心",
    "住房和城乡建设局", "自然资源和规划局", "医疗保障局", "住房公积金管理中心", "交通运输局",
    "卫生健康委员会", "生态环境局", "水利局", "城市管理局", "发展和改革委员会", "民政局",
    "教育体育局", "司法局", "财政局", "商务局", "农业农村局", "林业局", "工业和信息化局",
    "文化旅游广电局", "应急管理局", "科学技术局", "消防救援支队", "气象局", "烟草专卖局",
    "退役军人事务局", "残疾人联合会", "人民防空办公室", "统计局", "档案馆", "审计局", "供电公司",
    "水务集团", "燃气公司", "有线电视网络公司", "中国移动营业厅", "邮政公司", "出入境管理大队",
    "车辆管理所", "户政服务中心", "社会保险事业中心", "就业服务中心", "劳动人事争议仲裁院",
    "企业登记窗口", "食品药品许可窗口", "知识产权服务窗口",
]  # fmt: skip
CHANNELS = [
    ("window_device", 60), ("mobile", 12), ("pc", 6), ("qr_code", 8), ("self_service", 4),
    ("sms", 4), ("phone_callback", 3), ("hotline", 2), ("onsite_survey", 1),
]  # fmt: skip
ON_SITE = frozenset({"window_device", "self_service", "onsite_survey"})
# 5 非常满意 … 1 非常不满意: about 99% 好评
LEVELS = [(5, 930), (4, 45), (3, 15), (2, 6), (1, 4)]
RATER_TYPES = [("individual", 60), ("enterprise", 25), ("anonymous", 15)]
# Of the identified raters of a 差评, how many left a name or phone (实名).
REAL_NAME_SHARE = 0.75
BAD_TAGS = [
    ("attitude", 20), ("efficiency", 18), ("waiting", 16), ("notification", 12),
    ("multiple_trips", 8), ("materials", 8), ("process", 6), ("guide", 4), ("promise", 2),
    ("discipline", 2), ("fees", 1), ("platform", 2), ("other", 1),
]  # fmt: skip
COMMENTS = {
    "attitude": "窗口工作人员态度生硬，问两句就不耐烦",
    "efficiency": "一个简单的业务办了一个多小时",
    "waiting": "排队等了很久，窗口只开了一个",
    "notification": "材料要求没有一次说清楚，来回补了两次",
    "multiple_trips": "跑了三趟才办成",
    "materials": "要求提供的证明太多",
    "process": "流程太复杂，看不明白",
    "guide": "网上办事指南和窗口要求不一致",
    "promise": "承诺的办结时间已经过了还没办好",
    "discipline": "窗口人员上班时间玩手机",
    "fees": "收费标准没有公示",
    "platform": "网上系统总是提交失败",
    "other": "体验不好",
}
PRAISE_TAGS = ["praise_attitude", "praise_efficiency", "praise_professional"]
# Integrity flags (app/ratings/flags.py): a few ratings look scripted.
FLAGGED_SHARE = 0.003
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国志文斌海波宁晨欣怡浩宇"
COMPLAINT_CATEGORIES = [
    ("服务态度", "attitude"), ("办事效率", "efficiency"), ("多次跑动", "multiple_trips"),
    ("排队等候", "waiting"), ("一次性告知", "notification"), ("工作纪律", "discipline"),
]  # fmt: skip
PAYLOAD_HASH = b"\x00" * 32
RATING_COLUMNS = (
    "client_id", "event_id", "payload_hash", "channel", "department_code", "window_no",
    "staff_id", "level", "tags", "comment", "rater_type", "rater_name", "rater_phone",
    "rater_phone_hash", "rated_at", "received_at", "historical", "status", "status_changed_at",
    "flags", "case_no",
)  # fmt: skip
# Survey channels rate samples, not their own cases: their ratings name no case (办件).
SURVEY_CHANNELS = frozenset({"phone_callback", "onsite_survey"})
COMPLAINT_COLUMNS = (
    "order_no", "client_id", "payload_hash", "department_code", "window_no", "staff_id",
    "category", "content", "citizen_name", "citizen_phone", "citizen_phone_hash", "received_at",
    "urgency", "created_at", "source", "category_code",
)  # fmt: skip
# How complaints come (the complaint `source`): most by the 12345 hotline.
COMPLAINT_SOURCES = [
    ("hotline_12345", 60), ("gov_platform", 15), ("cannot_do_window", 10), ("onsite", 10),
    ("other", 5),
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Centre:
    departments: list[tuple[str, str]]  # (code, name)
    windows: dict[str, list[tuple[str, list[str]]]]  # code -> [(window_no, [staff ids])]

    def weights(self) -> list[float]:
        """A few busy departments, a long tail."""
        return [1.0 / (1 + i * 0.15) for i in range(len(self.departments))]


@dataclass(frozen=True, slots=True)
class Staged:
    """A work order to write: what it came from (a rating's event id or a complaint's order
    number), where it belongs, and its lifecycle."""

    source: str
    key: str
    department_code: str
    window_no: str | None
    staff_id: str | None
    summary: str | None
    tags: list[str]
    order: Order


def make_centre(departments: int, seed: int = 0) -> Centre:
    """Departments DEMO-001…, 2–8 windows each, 2–4 staff per window."""
    rng = random.Random(seed)
    depts, windows = [], {}
    for i in range(departments):
        base = DEPARTMENT_NAMES[i % len(DEPARTMENT_NAMES)]
        name = base if i < len(DEPARTMENT_NAMES) else f"{base}{i // len(DEPARTMENT_NAMES) + 1}分局"
        code = f"{CODE_PREFIX}{i + 1:03d}"
        depts.append((code, name))
        windows[code] = [
            (
                f"{chr(65 + i % 26)}{w + 1:02d}",
                [f"D{i + 1:03d}{w + 1:02d}{s + 1}" for s in range(rng.randint(2, 4))],
            )
            for w in range(rng.randint(2, 8))
        ]
    return Centre(depts, windows)


def _expand(weighted: list[tuple]) -> tuple[list, list[int]]:
    values = [v for v, _ in weighted]
    cum, total = [], 0
    for _, w in weighted:
        total += w
        cum.append(total)
    return values, cum


def _person(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
    phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    return name, phone


def generate(
    centre: Centre,
    count: int,
    *,
    client_id: uuid.UUID,
    start: datetime,
    end: datetime,
    walker: Walker | None = None,
    ring: Keyring | None = None,
    seed: int = 0,
    batch: int = 50_000,
    id_prefix: str = "demo",
) -> Iterator[tuple[list[tuple], list[Staged]]]:
    """Yield (COPY records in RATING_COLUMNS order, work orders of their 差评), `batch` at a time.

    Without a walker no order is walked, and 差评 carry a status drawn at random (the old
    ratings-only load). Real-name raters' names and phones are encrypted with `ring`."""
    rng = random.Random(seed)
    choices = rng.choices
    dept_codes = [code for code, _ in centre.departments]
    dept_weights = centre.weights()
    channels, channel_cum = _expand(CHANNELS)
    levels, level_cum = _expand(LEVELS)
    raters, rater_cum = _expand(RATER_TYPES)
    tags, tag_cum = _expand(BAD_TAGS)
    window_pools = centre.windows
    day0 = start.astimezone(BUSINESS_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    days = max(1, (end - day0).days)
    day_starts = [(day0 + timedelta(days=d)).timestamp() for d in range(days)]
    end_ts = end.timestamp()
    fromts = datetime.fromtimestamp
    produced = 0
    while produced < count:
        n = min(batch, count - produced)
        d_codes = choices(dept_codes, dept_weights, k=n)
        d_channels = choices(channels, cum_weights=channel_cum, k=n)
        d_levels = choices(levels, cum_weights=level_cum, k=n)
        d_raters = choices(raters, cum_weights=rater_cum, k=n)
        # time runs with the ids, as it does when ratings arrive (a few come late)
        d_days = sorted(
            day_starts[min(days - 1, (produced + i) * days // count)]
            if rng.random() > 0.01
            else day_starts[int(rng.random() * days)]
            for i in range(n)
        )
        records, staged = [], []
        append = records.append
        for i in range(n):
            code = d_codes[i]
            window_no, staff = window_pools[code][int(rng.random() * len(window_pools[code]))]
            level = d_levels[i]
            channel = d_channels[i]
            rater_type = d_raters[i]
            # office hours 08:30–17:30 Beijing time
            ts = d_days[i] + 30600 + rng.random() * 32400
            if ts >= end_ts:
                ts = end_ts - 1 - rng.random() * 3600
            rated_at = fromts(ts, UTC)
            event_id = f"{id_prefix}-{produced + i:010d}"
            on_site = channel in ON_SITE
            window = window_no if on_site else None
            staff_id = staff[int(rng.random() * len(staff))] if on_site else None
            status, changed_at, comment, flags = "valid", None, None, None
            name = phone = phone_hash = None
            if level <= 2:
                item_tags = list(
                    set(choices(tags, cum_weights=tag_cum, k=1 + (rng.random() < 0.3)))
                )
                comment = COMMENTS[item_tags[0]] if rng.random() < 0.7 else None
                real_name = rater_type != "anonymous" and rng.random() < REAL_NAME_SHARE
                if real_name and ring is not None:
                    person, number = _person(rng)
                    name = ring.encrypt(person, "rating.rater_name")
                    phone = ring.encrypt(number, "rating.rater_phone")
                    phone_hash = ring.phone_hash(number)
                if walker is not None:
                    order = walk(
                        walker,
                        source="rating",
                        real_name=name is not None,
                        opened_at=rated_at,
                        open_note="差评",
                    )
                    status, changed_at = order.rating_status, order.rating_status_changed_at
                    staged.append(
                        Staged(
                            "rating", event_id, code, window, staff_id, comment, item_tags, order
                        )
                    )
                else:
                    r = rng.random()
                    if r < 0.06:
                        status, changed_at = "withdrawn", rated_at + timedelta(days=2)
                    elif r < 0.09:
                        status, changed_at = "invalidated", rated_at + timedelta(days=5)
            else:
                item_tags = [PRAISE_TAGS[int(rng.random() * 3)]] if rng.random() < 0.05 else []
            if rng.random() < FLAGGED_SHARE:
                flags = ["rapid_device"] if channel == "window_device" else ["identical_burst"]
            append(
                (
                    client_id,
                    event_id,
                    PAYLOAD_HASH,
                    channel,
                    code,
                    window,
                    staff_id,
                    level,
                    item_tags,
                    comment,
                    rater_type,
                    name,
                    phone,
                    phone_hash,
                    rated_at,
                    rated_at,
                    True,
                    status,
                    changed_at,
                    flags,
                    None if channel in SURVEY_CHANNELS else f"{id_prefix}-BJ{produced + i:010d}",
                )
            )
        produced += n
        yield records, staged


def complaints(
    centre: Centre,
    count: int,
    *,
    client_id: uuid.UUID,
    start: datetime,
    end: datetime,
    walker: Walker,
    ring: Keyring,
    seed: int = 0,
    id_prefix: str = "demo",
) -> tuple[list[tuple], list[Staged]]:
    """12345 complaints about windows (COMPLAINT_COLUMNS order) and their work orders."""
    rng = random.Random(seed + 12345)
    sources, source_cum = _expand(COMPLAINT_SOURCES)
    # its own draws: the complaints' other draws stay those of earlier versions
    source_of = random.Random(seed + 54321).choices
    category_code = {tag: code for code, tag in reversed(REASON_CATEGORIES.items())}
    codes = [code for code, _ in centre.departments]
    weights = centre.weights()
    span = (end - start).total_seconds()
    moments = sorted(start + timedelta(seconds=span * rng.random()) for _ in range(count))
    records, staged = [], []
    for i, moment in enumerate(moments):
        received_at = walker.office(moment)
        if received_at >= end:
            received_at = end - timedelta(minutes=1 + 60 * rng.random())
        code = rng.choices(codes, weights)[0]
        window_no, staff = rng.choice(centre.windows[code])
        staff_id = rng.choice(staff)
        category, tag = rng.choice(COMPLAINT_CATEGORIES)
        content = f"来电反映{window_no}窗口：{COMMENTS[tag]}，希望相关部门核实处理。"
        real_name = rng.random() < 0.9
        person, number = _person(rng) if real_name else (None, None)
        order_no = f"{id_prefix}-12345-{i + 1:07d}"
        records.append(
            (
                order_no,
                client_id,
                PAYLOAD_HASH,
                code,
                window_no,
                staff_id,
                category,
                content,
                ring.encrypt(person, "complaint.citizen_name"),
                ring.encrypt(number, "complaint.citizen_phone"),
                ring.phone_hash(number),
                received_at,
                "urgent" if rng.random() < 0.05 else "normal",
                received_at,
                source_of(sources, cum_weights=source_cum)[0],
                category_code[tag],
            )
        )
        order = walk(
            walker,
            source="complaint",
            real_name=real_name,
            opened_at=received_at,
            open_note=f"12345 {order_no}",
        )
        staged.append(Staged("complaint", order_no, code, window_no, staff_id, content, [], order))
    return records, staged
