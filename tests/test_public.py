"""Residents report a problem without an account, follow it by tracking code, and confirm the fix
(or say it is not fixed) — and the grid staff's call-back plays by the same rules."""
from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import func, select

from case_steps import case_in, parse, seen_version, user
from conftest import Client, FreshContextClient
from casework.extensions import db, limiter
from casework.models import Attachment, Case, CaseEvent
from resident_steps import (
    TRACK_RE, building_of, fetch, image_bytes, post_multipart, report_form, submit, upload,
)

# Per-request bits of a page: the CSRF token and the language switch's return path (the URL typed).
VOLATILE_RE = re.compile(r'(csrf_token" value="|X-CSRFToken": "|name="next" value=")[^"]+')


def count_cases() -> int:
    return db.session.scalar(select(func.count()).select_from(Case))


def count_files(app) -> int:
    return sum(len(files) for _, _, files in os.walk(app.config["UPLOAD_FOLDER"]))


def fire_as(client, case: Case, event: str, **fields):
    """Press an event on the staff case page with the version the page shows."""
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200
    return client.post(f"/cases/{case.id}/events/{event}",
                       {"version": seen_version(page.text, case.id), **fields}, htmx=True)


# The report form -------------------------------------------------------------------------------

def test_report_form_is_public_phone_first_and_explains_consent(app, session, login_as):
    resident = login_as()
    page = resident.get("/report")
    assert page.status_code == 200
    html = page.text
    assert 'name="viewport"' in html and 'enctype="multipart/form-data"' in html
    for name in ("community_id", "building_id", "unit", "category_id", "description", "photos",
                 "reporter_name", "reporter_phone", "consent"):
        assert f'name="{name}"' in html, name
    assert "个人信息保护法" in html and "手机号码" in html and "删除" in html
    assert "您的称呼、手机号码和您上传的照片将被删除" in html  # what `casework purge` erases
    assert "青松社区" in html and "溪畔社区" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "主导航" not in html  # no staff navigation for residents


def test_building_choice_narrows_by_community_and_search(app, session, login_as):
    resident = login_as()
    b = building_of("wangge01")
    fragment = resident.get(f"/report/buildings?community_id={b.grid.community_id}",
                            headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div class="field" id="building-field">')
    assert "青松苑1幢" in fragment.text and "溪畔苑" not in fragment.text
    found = resident.get(f"/report/buildings?community_id={b.grid.community_id}&q=苑12幢").text
    assert "青松苑12幢" in found and "青松苑1幢（" not in found


# The whole story -------------------------------------------------------------------------------

def test_report_track_work_confirm_closed(app, session, login_as):
    """Report → tracking code → status visible → staff work → resident confirms with a rating → closed."""
    resident = login_as()
    data = report_form()
    data["photos"] = [upload(image_bytes("PNG"), "灯.png")]
    response = resident.post("/report", data)
    assert response.status_code == 303
    code = TRACK_RE.search(response.headers["Location"]).group(1)
    case = db.session.scalars(select(Case).where(Case.tracking_code == code)).one()
    assert (case.status, case.channel, case.reporter_phone, case.reporter_name) == (
        "reported", "web", "13987654321", "李阿姨")
    assert case.created_by_id is None and case.unit == "2单元301"
    first = case.events[0]
    assert (first.event, first.actor_id, first.actor_label) == ("report", None, "resident")
    assert [a.stage for a in case.attachments] == ["before"]

    page = resident.get(response.headers["Location"])
    assert page.status_code == 200
    assert "提交成功" in page.text and code in page.text
    assert f'src="/track/{code}/qr.svg"' in page.text
    assert f"http://localhost/track/{code}" in page.text
    assert "新上报" in page.text and "等待网格员签收" in page.text and "您提交了反映" in page.text
    qr = resident.get(f"/track/{code}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and qr.data.startswith(b"<svg")

    # Staff work the case: sign, dispatch to the property company, accept, add an after photo, report done.
    wangge, wuye = login_as("wangge01"), login_as("wuye01")
    wanjia = user("wuye01").organisation
    assert fire_as(wangge, case, "sign").status_code == 200
    assert fire_as(wangge, case, "dispatch_handler", organisation=str(wanjia.id)).status_code == 200
    assert "物业或社区合伙人" in resident.get(f"/track/{code}").text
    assert fire_as(wuye, case, "accept").status_code == 200
    after = wuye.post(f"/cases/{case.id}/photos", {"photos": [upload(image_bytes("JPEG"), "done.jpg", "image/jpeg")]},
                      htmx=True)
    assert after.status_code == 200 and "完工照片" in after.text
    assert fire_as(wuye, case, "report_done", note="已更换声控灯").status_code == 200

    page = resident.get(f"/track/{code}")
    assert "待您确认" in page.text and "问题解决了吗" in page.text and "处理后的照片" in page.text
    after_photo = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id,
                                                              Attachment.stage == "after")).one()
    status, mimetype, _ = fetch(resident, f"/track/{code}/photos/{after_photo.id}/thumb")
    assert status == 200 and mimetype == "image/jpeg"
    version = int(parse(page.text).find("input", name="version").get("value"))

    done = resident.post(f"/track/{code}/confirm", {"satisfaction": "satisfied", "comment": "修得很快，谢谢",
                                                     "version": version})
    assert done.status_code == 303
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.resolution, case.satisfaction) == ("closed", "solved", "satisfied")
    last = case.events[-1]
    assert (last.event, last.actor_id, last.actor_label, last.note) == ("close", None, "resident", "修得很快，谢谢")
    page = resident.get(f"/track/{code}").text
    assert "已办结" in page and "您确认已解决" in page and "满意" in page and "问题解决了吗" not in page

    # The staff call-back comes second: refused with a readable message, nothing changes.
    late = wangge.post(f"/cases/{case.id}/events/close", {"version": version, "satisfaction": "dissatisfied"},
                       htmx=True)
    assert late.status_code == 409 and "刷新" in late.text
    db.session.expire_all()
    assert db.session.get(Case, case.id).satisfaction == "satisfied"


def test_not_fixed_reopens_to_handling(app, session, login_as):
    case = case_in("resolved", building_of(), organisation=user("wuye01").organisation)
    resident = login_as()
    page = resident.get(f"/track/{case.tracking_code}")
    assert "还没有解决" in page.text

    empty = resident.post(f"/track/{case.tracking_code}/not-fixed", {"note": "", "version": case.version})
    assert empty.status_code == 422 and "请说明还有什么问题没有解决" in empty.text
    assert "<details class=\"not-fixed\" open" in empty.text

    response = resident.post(f"/track/{case.tracking_code}/not-fixed",
                             {"note": "灯还是不亮", "version": case.version})
    assert response.status_code == 303
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "handling" and case.resolved_at is None
    last = case.events[-1]
    assert (last.event, last.actor_label, last.to_status) == ("reopen", "resident", "handling")
    page = resident.get(f"/track/{case.tracking_code}").text
    assert "您反馈未解决" in page and "问题解决了吗" not in page
    # The same handler organisation sees it again.
    assert login_as("wuye01").get(f"/cases/{case.id}").status_code == 200


def test_staff_callback_first_then_resident_is_refused_readably(app, session, login_as):
    case = case_in("resolved", building_of())
    resident = login_as()
    seen = resident.get(f"/track/{case.tracking_code}")
    version = int(parse(seen.text).find("input", name="version").get("value"))
    wangge = login_as("wangge01")
    assert fire_as(wangge, case, "close", satisfaction="basically_satisfied", note="电话回访：已修好").status_code == 200

    late = resident.post(f"/track/{case.tracking_code}/confirm", {"satisfaction": "dissatisfied", "version": version})
    assert late.status_code == 409
    assert "已经办结" in late.text
    assert user("wangge01").display_name not in late.text  # the refusal names nobody
    db.session.expire_all()
    assert db.session.get(Case, case.id).satisfaction == "basically_satisfied"
    again = resident.post(f"/track/{case.tracking_code}/not-fixed", {"note": "x", "version": version})
    assert again.status_code == 409


def test_confirm_needs_a_rating_and_keeps_the_comment(app, session, login_as):
    case = case_in("resolved", building_of())
    resident = login_as()
    response = resident.post(f"/track/{case.tracking_code}/confirm",
                             {"satisfaction": "", "comment": "师傅态度很好", "version": case.version})
    assert response.status_code == 422
    assert "请选择您对办理结果的评价" in response.text and "师傅态度很好" in response.text
    bogus = resident.post(f"/track/{case.tracking_code}/confirm",
                          {"satisfaction": "thrilled", "version": case.version})
    assert bogus.status_code == 422
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "resolved"


def test_confirm_on_a_case_still_in_progress_is_refused(app, session, login_as):
    case = case_in("handling", building_of())
    resident = login_as()
    page = resident.get(f"/track/{case.tracking_code}")
    assert "问题解决了吗" not in page.text
    response = resident.post(f"/track/{case.tracking_code}/confirm", {"satisfaction": "satisfied",
                                                                       "version": case.version})
    assert response.status_code == 409 and "暂时不需要您确认" in response.text
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "handling"


# Bad input -------------------------------------------------------------------------------------

MISSING = [
    ("community_id", "请选择所在社区"), ("building_id", "请选择楼栋"), ("category_id", "请选择问题类别"),
    ("description", "请描述遇到的问题"), ("reporter_name", "请填写您的称呼"),
    ("reporter_phone", "请填写手机号码"), ("consent", "请阅读并同意"),
]


@pytest.mark.parametrize(("field", "message"), MISSING, ids=[f for f, _ in MISSING])
def test_missing_field_is_named_and_the_rest_is_kept(app, session, field, message, login_as):
    resident = login_as()
    before = count_cases()
    data = report_form(**{field: None})
    response = resident.post("/report", data)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    for name in ("reporter_name", "reporter_phone", "description", "unit"):
        if name in data:
            assert data[name] in response.text, name
    assert count_cases() == before


@pytest.mark.parametrize("phone", ["12345", "23812345678", "1381234567", "138123456789", "138-abcd-5678"])
def test_bad_mobile_number(app, session, phone, login_as):
    resident = login_as()
    before = count_cases()
    response = resident.post("/report", report_form(reporter_phone=phone))
    assert response.status_code == 422
    assert "请输入正确的 11 位手机号码" in response.text
    assert f'value="{phone}"' in response.text and "3单元楼道声控灯坏了一周" in response.text
    assert count_cases() == before


def test_mobile_number_with_country_code_is_accepted(app, session, login_as):
    case = submit(login_as(), reporter_phone="+86 138-1234-5678")
    assert case.reporter_phone == "13812345678"


def test_building_must_belong_to_the_chosen_community(app, session, login_as):
    other = building_of("wangge04")  # a building of 溪畔社区
    data = report_form(community_id=str(building_of().grid.community_id), building_id=str(other.id))
    response = login_as().post("/report", data)
    assert response.status_code == 422 and "不属于所选社区" in response.text


def test_six_megabyte_photo_is_413_with_the_form_kept(app, session, login_as):
    resident = login_as()
    before, files = count_cases(), count_files(app)
    data = report_form()
    big = b"\xff\xd8\xff\xe0" + b"\0" * (6 * 1024 * 1024)
    data["photos"] = [upload(image_bytes("PNG"), "ok.png"), upload(big, "big.jpg", "image/jpeg")]
    response = post_multipart(resident, "/report", data)
    assert response.status_code == 413
    assert "超过 5 MB" in response.text and "big.jpg" in response.text
    assert "李阿姨" in response.text and "3单元楼道声控灯坏了一周" in response.text
    assert count_cases() == before and count_files(app) == files


def test_html_renamed_jpg_is_refused(app, session, login_as):
    resident = login_as()
    before, files = count_cases(), count_files(app)
    data = report_form()
    data["photos"] = [upload(b"<html><body><script>alert(1)</script></body></html>", "photo.jpg", "image/jpeg")]
    response = resident.post("/report", data)
    assert response.status_code == 422
    assert "不是有效的 JPG、PNG 或 WebP 图片" in response.text
    assert "<script>alert(1)" not in response.text
    assert count_cases() == before and count_files(app) == files


def test_at_most_three_photos(app, session, login_as):
    data = report_form()
    data["photos"] = [upload(image_bytes("PNG"), f"{i}.png") for i in range(4)]
    response = login_as().post("/report", data)
    assert response.status_code == 422 and "最多上传 3 张照片" in response.text


def test_request_over_the_upload_limit_is_a_readable_413(app, session, login_as):
    data = report_form()
    data["photos"] = [upload(b"\0" * (6 * 1024 * 1024), f"{i}.jpg", "image/jpeg") for i in range(3)]
    response = post_multipart(login_as(), "/report", data)
    assert response.status_code == 413
    assert "每张照片不能超过 5 MB" in response.text or "超过 5 MB" in response.text


def test_report_without_csrf_token_is_refused(app, session, login_as):
    resident = login_as()
    before = count_cases()
    response = resident.post("/report", report_form(), csrf=False)
    assert response.status_code == 400 and count_cases() == before


# Rate limit ------------------------------------------------------------------------------------

def test_rate_limit_answers_429_readably(app, session, two_reports_a_minute, login_as):
    resident = login_as()
    if two_reports_a_minute == "redis":
        assert type(limiter.storage).__name__ == "RedisStorage"
    here = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}
    assert resident.post("/report", report_form(), **here).status_code == 303
    assert resident.post("/report", report_form(reporter_name=None), **here).status_code == 422
    before = count_cases()
    third = resident.post("/report", report_form(), **here)
    assert third.status_code == 429
    assert "提交太频繁" in third.text and "请稍等几分钟再试" in third.text
    assert count_cases() == before
    # Reading the form is not limited, and another address still gets through.
    assert resident.get("/report", **here).status_code == 200
    assert resident.post("/report", report_form(), environ_base={"REMOTE_ADDR": "203.0.113.8"}).status_code == 303


# Tracking codes --------------------------------------------------------------------------------

def test_tracking_lookups_are_rate_limited_per_address(app, session, three_lookups_a_minute, login_as):
    """Code guessing is slowed: wrong codes, the lookup form and the QR share one budget per address."""
    case = case_in("resolved", building_of())
    code = case.tracking_code
    resident = login_as()
    if three_lookups_a_minute == "redis":
        assert type(limiter.storage).__name__ == "RedisStorage"
    here = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}
    assert resident.get("/track/AAAAAAAAAA", **here).status_code == 404  # failed lookups count
    assert resident.get("/track", query_string={"code": "BBBBBBBBBB"}, **here).status_code == 302
    assert resident.get(f"/track/{code}/qr.svg", **here).status_code == 200
    refused = resident.get(f"/track/{code}", **here)
    assert refused.status_code == 429
    assert "操作太频繁" in refused.text and "您查询得太频繁了，请稍等几分钟再试" in refused.text
    assert "主导航" not in refused.text and "Traceback" not in refused.text
    assert refused.headers["Cache-Control"] == "no-store"
    # Every route that takes a code is refused, answers included, and nothing changes.
    att_url = f"/track/{code}/photos/1"
    for path in ("/track", f"/track/{code}/qr.svg", att_url, att_url + "/thumb", "/track/CCCCCCCCCC"):
        assert resident.get(path, **here).status_code == 429, path
    for path in (f"/track/{code}/confirm", f"/track/{code}/not-fixed"):
        answer = resident.post(path, {"satisfaction": "satisfied", "note": "x", "version": case.version}, **here)
        assert answer.status_code == 429, path
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "resolved"
    # A forged X-Forwarded-For does not help: the app is not behind a proxy (PROXY_COUNT=0).
    forged = resident.get(f"/track/{code}", headers={"X-Forwarded-For": "198.51.100.1"}, **here)
    assert forged.status_code == 429
    # Another address still gets through, and the report form keeps its own budget.
    other = resident.get(f"/track/{code}", environ_base={"REMOTE_ADDR": "203.0.113.8"})
    assert other.status_code == 200 and "问题解决了吗" in other.text
    assert resident.get("/report", **here).status_code == 200


def test_behind_a_proxy_each_forwarded_address_has_its_own_lookup_budget(app, session, three_lookups_a_minute):
    """With PROXY_COUNT=1 every request comes from nginx: the limit must follow X-Forwarded-For."""
    from casework import create_app
    proxied = create_app({**app.config, "PROXY_COUNT": 1})
    proxied.test_client_class = FreshContextClient
    resident = Client(proxied)
    nginx = {"REMOTE_ADDR": "127.0.0.1"}
    first = {"headers": {"X-Forwarded-For": "203.0.113.20"}, "environ_base": nginx}
    for _ in range(3):
        assert resident.get("/track/AAAAAAAAAA", **first).status_code == 404
    assert resident.get("/track/AAAAAAAAAA", **first).status_code == 429
    second = {"headers": {"X-Forwarded-For": "203.0.113.21"}, "environ_base": nginx}
    assert resident.get("/track/AAAAAAAAAA", **second).status_code == 404


def _without_tokens(html: str) -> str:
    return VOLATILE_RE.sub("", html)


def test_unknown_codes_all_get_the_same_404(app, session, login_as):
    case = submit(login_as())
    real = case.tracking_code
    near = real[:-1] + ("2" if real[-1] != "2" else "3")
    resident = login_as()
    answers = [resident.get(f"/track/{c}") for c in (near, "AAAAAAAAAA", "short", "0OIL1abcde", "x" * 200)]
    assert {a.status_code for a in answers} == {404}
    bodies = {_without_tokens(a.text) for a in answers}
    assert len(bodies) == 1
    assert real not in bodies.pop()
    for path in (f"/track/{near}/qr.svg", f"/track/{near}/photos/1", f"/track/{near}/photos/1/thumb"):
        assert resident.get(path).status_code == 404
    for path in (f"/track/{near}/confirm", f"/track/{near}/not-fixed"):
        assert resident.post(path, {"satisfaction": "satisfied", "note": "x", "version": 1}).status_code == 404


def test_code_typed_in_lower_case_with_spaces_finds_the_case(app, session, login_as):
    case = submit(login_as())
    resident = login_as()
    spaced = case.tracking_code[:5].lower() + " " + case.tracking_code[5:].lower()
    response = resident.get("/track", query_string={"code": spaced})
    assert response.status_code == 302
    followed = resident.get(response.headers["Location"])
    assert followed.status_code in (200, 302)
    final = resident.get(f"/track/{case.tracking_code}")
    assert final.status_code == 200 and case.tracking_code in final.text


def test_photo_of_another_case_is_404_on_a_tracking_page(app, session, login_as):
    resident = login_as()
    first = submit(resident, photos=[upload(image_bytes("PNG"), "a.png")])
    second = submit(resident)
    att = first.attachments[0]
    assert fetch(resident, f"/track/{first.tracking_code}/photos/{att.id}")[0] == 200
    assert resident.get(f"/track/{second.tracking_code}/photos/{att.id}").status_code == 404


# Duplicates ------------------------------------------------------------------------------------

def test_triage_lists_duplicates_and_merge_points_the_resident_on(app, session, login_as):
    resident = login_as()
    original = submit(resident, description="5单元门口路灯不亮", reporter_name="赵先生",
                      reporter_phone="13700001111")
    duplicate = submit(resident, description="门口路灯坏了", reporter_name="钱女士",
                       reporter_phone="13600002222")
    wangge = login_as("wangge01")
    assert fire_as(wangge, duplicate, "sign").status_code == 200
    panel = wangge.get(f"/cases/{duplicate.id}").text
    assert "可能重复的案件" in panel and original.number in panel
    assert f'name="duplicate_of" value="{original.number}"' in panel

    merged = wangge.post(f"/cases/{duplicate.id}/events/merge",
                         {"version": seen_version(panel, duplicate.id), "duplicate_of": original.number}, htmx=True)
    assert merged.status_code == 200
    db.session.expire_all()
    dup = db.session.get(Case, duplicate.id)
    assert (dup.status, dup.resolution, dup.duplicate_of_id) == ("closed", "duplicate", original.id)
    # Both ends are linked on the staff pages.
    assert "合并进来的重复件" in wangge.get(f"/cases/{original.id}").text
    assert duplicate.number in wangge.get(f"/cases/{original.id}").text

    page = resident.get(f"/track/{duplicate.tracking_code}").text
    assert "合并办理" in page and original.number in page and "合并后继续办理的事项" in page
    # Nothing of the other resident's: name, number, description, tracking code.
    for secret in ("赵先生", "13700001111", "1111", "5单元门口路灯不亮", original.tracking_code):
        assert secret not in page


def test_no_duplicates_section_outside_triage(app, session, login_as):
    case = case_in("handling", building_of())
    other = case_in("handling", building_of())
    panel = login_as("wangge01").get(f"/cases/{case.id}").text
    assert "可能重复的案件" not in panel and other.number not in panel


def test_events_of_resident_actions_are_in_the_staff_timeline(app, session, login_as):
    case = case_in("resolved", building_of())
    login_as().post(f"/track/{case.tracking_code}/confirm", {"satisfaction": "satisfied", "version": case.version})
    panel = login_as("wangge01").get(f"/cases/{case.id}").text
    assert "居民" in panel
    assert db.session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.actor_label == "resident")) == 1
