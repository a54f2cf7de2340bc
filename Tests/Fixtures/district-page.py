#!/usr/bin/env python3
"""The district page in a real browser: headless Chromium driven through chromedriver by
Selenium (Debian's python3-selenium, chromium, chromium-driver), as a user would use it.

  district-page.py --url http://127.0.0.1:PORT/ --site SITE --camera CAM --screenshot FILE

Checks that CAM of SITE is in the power company's work list, that its button in its ward is
drawn as "no power", and that clicking its line in the list opens the viewer with its last
snapshot decoded by the browser (an image of non-zero size from /snapshot/SITE/CAM). Saves a
screenshot of the page with the viewer open to FILE. Exit 0 when all holds; else 1 and why.
"""
import argparse
import json
import sys
import tempfile

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def css_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--site", required=True)
    ap.add_argument("--camera", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()

    profile = tempfile.TemporaryDirectory(prefix="vigil-page-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--user-data-dir=" + profile.name):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(a.url)
        wait = WebDriverWait(driver, a.timeout)
        sel = '#work-power li[data-site=%s][data-camera=%s]' % (css_string(a.site),
                                                                 css_string(a.camera))
        try:
            job = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, sel))
        except TimeoutException:
            items = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#work-power li")]
            print("not in the power company's list within %ss; it holds %s" % (a.timeout, items))
            return 1
        text = job.text
        button = driver.find_element(
            By.CSS_SELECTOR, '#wards button.cam[data-site=%s][data-camera=%s]'
            % (css_string(a.site), css_string(a.camera)))
        classes = button.get_attribute("class").split()
        if "power" not in classes:
            print("the camera's button is drawn as %s, not power" % classes)
            return 1
        # The page redraws every 3 s: find the line again right before clicking it.
        driver.find_element(By.CSS_SELECTOR, sel).click()
        try:
            wait.until(lambda d: d.find_element(By.ID, "viewer").is_displayed())
            wait.until(lambda d: d.execute_script(
                "const i = document.getElementById('viewer-img');"
                "return i.complete && i.naturalWidth > 0;"))
        except TimeoutException:
            print("the viewer did not show a snapshot: %s" % driver.execute_script(
                "const i = document.getElementById('viewer-img');"
                "return [i.src, i.complete, i.naturalWidth, "
                "document.getElementById('viewer-none').hidden];"))
            return 1
        img = driver.find_element(By.ID, "viewer-img")
        src = img.get_attribute("src")
        title = driver.find_element(By.ID, "viewer-title").text
        natural = driver.execute_script(
            "const i = document.getElementById('viewer-img'); return [i.naturalWidth, i.naturalHeight];")
        driver.save_screenshot(a.screenshot)
        print(json.dumps({"job": text, "button": classes, "src": src, "title": title,
                          "natural": natural}))
        return 0
    finally:
        driver.quit()
        profile.cleanup()


if __name__ == "__main__":
    sys.exit(main())
