"""The status page in a real headless Chromium (Debian's, through chromedriver): log in as
home's admin, see every provider's state, stop a cloud, reload, see its state change."""
from __future__ import annotations

import shutil
import time

import pytest
import requests

pytestmark = pytest.mark.parametrize("ocx_env", ["sqlite"], indirect=True)

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed "
                    "(scripts/ensure-services installs them; it needs root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def states(driver) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {row.get_attribute("data-provider"):
            row.find_element(By.CSS_SELECTOR, "td.state").text
            for row in driver.find_elements(By.CSS_SELECTOR, "#providers tr[data-provider]")}


def states_once(driver, wanted, *, timeout: float, before=lambda: None) -> dict[str, str]:
    """The providers' states once ``wanted(states)`` holds, reloading the page (with its
    cookie) until then; ``before`` each reload (some traffic, for OCX to find a change)."""
    deadline = time.monotonic() + timeout
    while True:
        before()
        driver.refresh()
        seen = states(driver)
        if wanted(seen):
            return seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.3)


def log_in(driver, url: str, creds: dict) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/ocx/")
    assert "Log in" in driver.page_source
    for name, value in (("username", creds["username"]), ("password", creds["password"]),
                        ("project", creds["project_name"])):
        driver.find_element(By.NAME, name).send_keys(value)
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    button = driver.find_element(By.CSS_SELECTOR, "button[type=submit]")
    button.click()
    # A click does not wait for the page it posts to: wait until the form's page is gone.
    # Asked while its document is being replaced, chromedriver may answer "Node ... does not
    # belong to the document" instead of "stale": asked again, it says stale.
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(button))


def test_status_page_shows_a_cloud_going_down(ocx_env, browser, tmp_path):
    # Some traffic first, so that the charts have points.
    conn = ocx_env.connect("ocx")
    list(conn.block_storage.volumes())
    admin = ocx_env.sim.auth_args("home", "admin")
    demo = ocx_env.sim.auth_args("home", "demo")

    # Not an admin: refused, no provider shown.
    log_in(browser, ocx_env.url, demo)
    assert "Only an admin" in browser.page_source and not states(browser)

    log_in(browser, ocx_env.url, admin)
    seen = states(browser)
    assert set(seen) >= {"home", "sp1", "sp2"}, browser.page_source[:2000]
    assert all(state == "up" for state in seen.values()), seen
    assert "<svg" in browser.page_source
    browser.save_screenshot(str(tmp_path / "status-up.png"))

    ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("cinder", True))
    try:
        list(conn.block_storage.volumes())     # OCX finds sp2's Cinder refusing
        seen = states_once(browser, lambda seen: seen.get("sp2") != "up", timeout=30)
        assert seen["sp2"] in ("degraded", "down") and seen["sp1"] == "up", seen
        browser.save_screenshot(str(tmp_path / "status-sp2-down.png"))
        assert (tmp_path / "status-sp2-down.png").stat().st_size > 1000
    finally:
        ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("cinder", False))
    ocx_env.until_up("sp2")

    # Without the cookie (another client): the log-in form, nothing else.
    anonymous = requests.get(f"{ocx_env.url}/ocx/", timeout=30)
    assert anonymous.status_code == 401 and "data-provider" not in anonymous.text
