"""Shelter CSV files: both header styles of the 自治体標準オープンデータセット, the GSI CSV,
UTF-8 with or without BOM and Shift_JIS, and broken rows reported by line number."""

from __future__ import annotations

from cityos.apps.shelters.importers import read_shelter_file

OLDER = (
    "NO,名称,名称_カナ,住所,緯度,経度,災害種別_洪水,災害種別_崖崩れ、土石流及び地滑り,"
    "災害種別_地震,想定収容人数\n"
    "1,加賀市立錦城小学校,カガシリツキンジョウショウガッコウ,石川県加賀市大聖寺馬場町1,"
    "36.3050,136.3150,1,,1,400\n"
    "2,山代温泉公民館,ヤマシロオンセンコウミンカン,石川県加賀市山代温泉,36.2890,136.3630,,1,,\n")
NEWER = (
    "全国地方公共団体コード,ID,地方公共団体名,名称,名称_カナ,所在地_連結表記,緯度,経度,"
    "災害種別_洪水,災害種別_津波,想定収容人数\n"
    "172065,0001,加賀市,片山津地区会館,カタヤマヅチクカイカン,石川県加賀市片山津温泉,"
    "36.3400,136.3500,1,1,120\n")
GSI = (
    "NO,共通ID,施設・場所名,住所,洪水,崖崩れ、土石流及び地滑り,高潮,地震,津波,大規模な火事,"
    "内水氾濫,火山現象,指定避難所との住所同一,緯度,経度,備考\n"
    "1,E1720600009999,動橋小学校運動場,石川県加賀市動橋町,1,,,1,,,,,1,36.33,136.39,\n")


def test_older_header_style() -> None:
    report = read_shelter_file(OLDER.encode(), "older.csv")
    assert not report.rejections
    first, second = (r.shelter for r in report.records)
    assert first.id == "urn:ngsi-ld:EvacuationShelter:172065-1"
    assert (first.name, first.kana, first.capacity, first.hazards) == (
        "加賀市立錦城小学校", "カガシリツキンジョウショウガッコウ", 400, ("flood", "earthquake"))
    assert (first.lon, first.lat) == (136.315, 36.305)
    assert first.category == "emergencyEvacuationSite"
    assert second.capacity is None  # unknown stays unknown
    assert "older.csv: header style standard (older)" in report.notes


def test_newer_header_style_with_bom() -> None:
    report = read_shelter_file(b"\xef\xbb\xbf" + NEWER.encode(), "newer.csv")
    [record] = report.records
    assert record.shelter.id == "urn:ngsi-ld:EvacuationShelter:172065-0001"
    assert record.shelter.street_address == "石川県加賀市片山津温泉"
    assert record.shelter.hazards == ("flood", "tsunami")
    assert record.shelter.capacity == 120


def test_gsi_csv_keeps_the_common_id() -> None:
    report = read_shelter_file(GSI.encode(), "gsi.csv")
    [record] = report.records
    assert record.shelter.id == "urn:ngsi-ld:EvacuationShelter:E1720600009999"
    assert record.shelter.gsi_common_id == "E1720600009999"
    assert "GSI" in report.notes[1]


def test_gsi_designated_shelter_csv_and_its_emergency_site_merge() -> None:
    from cityos.apps.shelters.importers.merge import merge_shelters
    designated = (
        "NO,共通ID,施設・場所名,住所,指定緊急避難場所との住所同一,"
        "その他市町村長が必要と認める事項,受入対象者,緯度,経度,備考\n"
        "1,E1720600009911,動橋小学校,石川県加賀市動橋町,1,,,36.331,136.391,\n")
    shelters = read_shelter_file(designated.encode("cp932"), "d.csv").records
    sites = read_shelter_file(GSI.encode(), "gsi.csv").records
    assert shelters[0].shelter.category == "designatedShelter"
    [merged] = merge_shelters(r.shelter for r in [*sites, *shelters])
    assert merged.id == "urn:ngsi-ld:EvacuationShelter:E1720600009911"
    assert merged.emergency_site_id == "E1720600009999"
    assert merged.hazards == ("flood", "earthquake")


def test_a_shift_jis_file_is_read() -> None:
    report = read_shelter_file(OLDER.encode("cp932"), "sjis.csv")
    assert len(report.records) == 2 and not report.rejections
    assert report.records[0].shelter.name == "加賀市立錦城小学校"
    assert "sjis.csv: encoding Shift_JIS (CP932)" in report.notes


def test_broken_rows_are_reported_by_line_and_good_rows_kept() -> None:
    header = OLDER.splitlines()[0]
    good = "3,作見地区会館,,石川県加賀市作見町,36.30,136.32,1,,,50"
    lines = [
        header.encode(),
        good.encode(),                                                       # line 2
        "4,緯度なし,,石川県加賀市,north,136.3,,,,".encode(),                 # line 3
        "5,,,石川県加賀市,36.3,136.3,,,,".encode(),                          # line 4
        "6,旧三木小学校,,石川県加賀市三木町,36.2,136.3,,,,".encode("cp932"),  # line 5
        "7,範囲外,,石川県加賀市,136.3,36.3,,,,".encode(),                    # line 6
        "8,人数が変,,石川県加賀市,36.3,136.3,,,,たくさん".encode(),           # line 7
        "9,列が足りない,,石川県加賀市".encode(),                             # line 8
        "3,重複,,石川県加賀市,36.3,136.3,,,,".encode(),                      # line 9
        "10,最後の良い行,,石川県加賀市大聖寺,36.31,136.31,,,,20".encode(),    # line 10
    ]
    report = read_shelter_file(b"\n".join(lines) + b"\n", "broken.csv")
    assert [r.shelter.name for r in report.records] == ["作見地区会館", "最後の良い行"]
    reasons = {r.line: r.reason for r in report.rejections}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "not numbers" in reasons[3]
    assert "名称" in reasons[4]
    assert "Shift_JIS" in reasons[5]
    assert "out of range" in reasons[6]
    assert "想定収容人数" in reasons[7]
    assert "fields" in reasons[8]
    assert "duplicate" in reasons[9]
    assert str(report.rejections[0]).startswith("broken.csv:3: ")


def test_quoted_newlines_keep_line_numbers_right() -> None:
    text = (OLDER.splitlines()[0] + '\n1,"二行の\n名前",,住所,36.3,136.3,,,,\n'
            '2,,,住所,36.3,136.3,,,,\n')
    report = read_shelter_file(text.encode(), "q.csv")
    assert [r.line for r in report.records] == [2]
    assert [r.line for r in report.rejections] == [4]


def test_an_unknown_header_is_one_clear_rejection() -> None:
    report = read_shelter_file(b"a,b,c\n1,2,3\n", "other.csv")
    assert not report.records
    assert report.rejections[0].line == 1
    assert "header not recognised" in report.rejections[0].reason


def test_an_empty_file() -> None:
    report = read_shelter_file(b"", "empty.csv")
    assert report.rejections[0].reason == "the file is empty"
