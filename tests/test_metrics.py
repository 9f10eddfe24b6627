from cityos.metrics import Counters


def test_counters_render_prometheus_text_with_labels() -> None:
    counters = Counters()
    counters.inc("cityos_logins_total", "Login attempts.", result="ok")
    counters.inc("cityos_logins_total", "Login attempts.", result="failed", amount=2)
    counters.inc("cityos_logins_total", "Login attempts.", result='bad"quote')
    text = counters.render()
    assert "# TYPE cityos_logins_total counter" in text
    assert 'cityos_logins_total{result="failed"} 2' in text
    assert 'cityos_logins_total{result="ok"} 1' in text
    assert 'cityos_logins_total{result="bad\\"quote"} 1' in text
    assert counters.value("cityos_logins_total", result="failed") == 2


def test_no_counters_render_nothing() -> None:
    assert Counters().render() == ""
