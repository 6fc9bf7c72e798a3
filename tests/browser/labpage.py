"""What a student does in JupyterLab 4, as Playwright steps (selectors checked against Lab 4.6
and nbgrader 0.9.6's lab extension).

Every wait is for something visible on the page (a selector, a prompt number, the kernel's idle
status), bounded by a generous timeout: Chromium may share two cores with TensorFlow kernels.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

KERNEL_TIMEOUT = 180_000  # ms: run all, including `import tensorflow` on a starved CPU
VALIDATE_TIMEOUT = 300_000  # ms: nbgrader runs the whole notebook in a fresh kernel
NEWS_PROMPT = "Would you like to get notified about official Jupyter news?"

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
IDLE = f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']"
STDERR = "application/vnd.jupyter.stderr"  # Lab renders error outputs (and stderr) with this type


def cell_selector(index: int) -> str:
    # Lab 4 keeps every cell in the DOM (windowing mode "contentVisibility"), indexed like the file.
    return f"{NOTEBOOK} .jp-Cell[data-windowed-list-index='{index}']"


def in_lab(page, base_url: str) -> None:
    """Make sure the page shows JupyterLab (loading it, in a fresh workspace, if it does not)."""
    if not page.url.startswith(f"{base_url}/lab"):
        page.goto(f"{base_url}/lab?reset")
    page.wait_for_selector(".lm-MenuBar-itemLabel >> text=File", timeout=KERNEL_TIMEOUT)


def open_notebook(page, base_url: str, path: str, n_cells: int) -> None:
    """Open a notebook as a student does, in the Lab already open (File > Close All Tabs, then
    File > Open from Path...); wait until its `n_cells` cells are on the page and its kernel is
    idle. Reusing the page spares loading JupyterLab again (seconds of CPU)."""
    in_lab(page, base_url)
    menu(page, "File", "Close All Tabs")
    discard = page.locator(".jp-Dialog button.jp-mod-warn", has_text="Discard")  # unsaved changes
    deadline = time.monotonic() + KERNEL_TIMEOUT / 1000
    while page.locator(".jp-NotebookPanel").count():
        assert time.monotonic() < deadline, "File > Close All Tabs did not close the notebook"
        if discard.count():
            discard.first.click()
        page.wait_for_timeout(100)
    menu(page, "File", "Open from Path…")
    page.locator(".jp-Dialog input").fill(path)
    page.locator(".jp-Dialog input").press("Enter")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + ' .jp-Cell').length >= n",
        arg=[NOTEBOOK, n_cells],
        timeout=KERNEL_TIMEOUT,
    )
    page.wait_for_selector(IDLE, timeout=KERNEL_TIMEOUT)


def menu(page, top: str, item: str) -> None:
    """Click a main-menu entry, e.g. menu(page, "Run", "Run All Cells")."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def cells(page) -> list[dict]:
    """What the page shows for each cell: index, code or not, prompt text, error text."""
    return page.evaluate(
        """([sel, stderr]) => [...document.querySelectorAll(sel + ' .jp-Cell')].map(c => ({
            index: Number(c.getAttribute('data-windowed-list-index')),
            code: c.classList.contains('jp-CodeCell'),
            prompt: ((c.querySelector('.jp-InputPrompt') || {}).textContent || '').trim(),
            errors: [...c.querySelectorAll(`.jp-OutputArea-output[data-mime-type="${stderr}"]`)]
                      .map(e => e.textContent),
        }))""",
        [NOTEBOOK, STDERR],
    )


def executed(prompt: str) -> bool:
    return re.fullmatch(r"\[\d+\]:", prompt) is not None


def wait_executed(page, indices: list[int]) -> None:
    """Wait until every listed code cell shows an execution number (not `[*]` or `[ ]`)."""
    page.wait_for_function(
        """([sel, indices]) => indices.every(i => {
            const cell = `${sel} .jp-Cell[data-windowed-list-index="${i}"]`;
            const p = document.querySelector(cell + ' .jp-InputPrompt');
            return p && /^\\[\\d+\\]:$/.test(p.textContent.trim());
        })""",
        arg=[NOTEBOOK, indices],
        timeout=KERNEL_TIMEOUT,
    )
    page.wait_for_selector(IDLE, timeout=KERNEL_TIMEOUT)


def run_all(page) -> None:
    """Run > Run All Cells on a notebook that has not run yet, then wait until the run is over:
    no cell queued or running (`[*]`), the kernel idle. After an error, the kernel drops the
    cells still queued."""
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        r"""(sel) => {
            const prompts = [...document.querySelectorAll(sel + ' .jp-InputPrompt')];
            const idle = document.querySelector(sel + " .jp-Notebook-ExecutionIndicator[data-status='idle']");
            const texts = prompts.map(p => p.textContent);
            // started (a cell has a number: the notebook opens with none), and not running
            return idle && texts.some(t => /\[\d+\]/.test(t)) && !texts.some(t => t.includes('*'));
        }""",
        arg=NOTEBOOK,
        timeout=KERNEL_TIMEOUT,
    )


def replace_cell_source(page, index: int, text: str) -> list[str]:
    """Click into a cell's editor, select everything and put `text` in its place.

    The text is inserted as one input (like a paste), so CodeMirror's auto-indent does not
    re-indent it. Returns the editor's lines as displayed afterwards.

    Lab may still swap a cell's DOM node for a new one just after a notebook opens (seen with a
    notebook made from the Launcher on a busy hub): Playwright then reports the element "not
    attached", or the text lands in the node that went away. Both are retried on the fresh node."""
    from playwright.sync_api import Error as PlaywrightError

    cell = page.locator(cell_selector(index))
    attempts = 3
    for attempt in range(1, attempts + 1):
        try:
            cell.scroll_into_view_if_needed()
            cell.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(text)
            lines = cell.locator(".cm-line").all_text_contents()
        except PlaywrightError as error:
            if "not attached" not in error.message or attempt == attempts:
                raise
            continue
        if lines == text.split("\n") or attempt == attempts:  # CodeMirror shows a last empty line
            return lines
    raise AssertionError("unreachable")


def run_cells_from(page, first: int, last: int) -> None:
    """Shift+Enter from cell `first` through cell `last` (each press runs one cell, moves on)."""
    page.locator(cell_selector(first)).locator(".jp-InputPrompt").click()  # select, command mode
    for _ in range(last - first + 1):
        page.keyboard.press("Shift+Enter")


def save(page) -> None:
    """The toolbar's save button; wait until the tab is no longer marked dirty."""
    page.locator(f"{NOTEBOOK} jp-button[data-command='docmanager:save']").click()
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)", timeout=KERNEL_TIMEOUT)


def validate(page) -> dict:
    """Press nbgrader's Validate button and read its result dialog.

    Returns the dialog's title, the CSS class nbgrader gives the message (validation-success,
    validation-failed, ...) and the source of each cell reported as failed."""
    page.locator(f"{NOTEBOOK} jp-button.validate-button").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT)
    return {
        "title": dialog.locator(".jp-Dialog-header").inner_text().strip(),
        **page.evaluate(
            """() => {
                const msg = document.querySelector('.jp-Dialog #validation-message');
                const text = document.querySelector('.jp-Dialog').innerText;
                if (!msg) return {kind: null, failed: [], text};
                const failed = [...msg.querySelectorAll(':scope > div > p')]
                    .filter(p => p.textContent === 'The following cell failed:')
                    .map(p => p.parentElement.nextElementSibling.querySelector('pre').innerText);
                const kind = [...msg.classList].find(c => c.startsWith('validation-')) || null;
                return {kind, failed, text: msg.innerText};
            }"""
        ),
    }


def close_dialog(page) -> None:
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def shot(page, path: Path, locator=None) -> Path:
    """Screenshot of the viewport, with `locator` (if given) scrolled into view.

    Lab paints cells that come into view lazily (CSS content-visibility) and they can grow when
    their outputs render, so first wait until the element sits still on screen for a few frames:
    a picture taken in the frame right after scrolling can show an empty notebook."""
    if locator is not None:
        locator.scroll_into_view_if_needed()
        page.evaluate("window.__shot = {key: '', frames: 0}")
        page.wait_for_function(
            """(el) => {
                const r = el.getBoundingClientRect(), s = window.__shot;
                const key = `${Math.round(r.top)}:${Math.round(r.height)}`;
                s.frames = key === s.key ? s.frames + 1 : 0;
                s.key = key;
                const onScreen = r.top < innerHeight && r.bottom > 0;
                if (!onScreen) el.scrollIntoView({block: 'center'});
                return onScreen && s.frames >= 3;
            }""",
            arg=locator.element_handle(),
            polling="raf",
        )
    else:
        page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def run_cell(page, index: int) -> None:
    """Select a cell by its prompt and run it in place (Ctrl+Enter)."""
    prompt = page.locator(cell_selector(index)).locator(".jp-InputPrompt")
    prompt.scroll_into_view_if_needed()
    prompt.click()  # selects the cell, command mode
    page.keyboard.press("Control+Enter")


WIDGET_IMAGE = "img.widget-image"


def widget_image_src(page, index: int, timeout: float = KERNEL_TIMEOUT) -> str:
    """Wait until cell `index` shows an ipywidgets Image that has loaded; return its src."""
    image = page.locator(cell_selector(index)).locator(WIDGET_IMAGE).first
    image.wait_for(timeout=timeout)
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=timeout
    )
    return image.get_attribute("src")


def wait_widget_image_changed(page, index: int, old_src: str) -> str:
    """Wait until the Image widget of cell `index` shows a new picture (a new src, loaded)."""
    image = page.locator(cell_selector(index)).locator(WIDGET_IMAGE).first
    page.wait_for_function(
        "([img, old]) => img.getAttribute('src') !== old && img.complete && img.naturalWidth > 0",
        arg=[image.element_handle(), old_src],
        timeout=KERNEL_TIMEOUT,
    )
    return image.get_attribute("src")


def move_a_control(page, index: int) -> str:
    """Move one control of the ipywidgets in cell `index`, as a student would; say which.

    The first slider is dragged to its maximum with the keyboard (End on its handle); without a
    slider, the first toggle button not selected is clicked, or the first drop-down menu moves to
    its next option."""
    cell = page.locator(cell_selector(index))
    handles = cell.locator(".widget-slider .noUi-handle")
    if handles.count():
        label = cell.locator(".widget-slider .widget-label").first.inner_text().strip()
        before = cell.locator(".widget-slider .widget-readout").first.inner_text().strip()
        handles.first.focus()
        page.keyboard.press("End")
        page.wait_for_function(
            "([el, old]) => el.textContent.trim() !== old",
            arg=[cell.locator(".widget-slider .widget-readout").first.element_handle(), before],
            timeout=30_000,
        )
        after = cell.locator(".widget-slider .widget-readout").first.inner_text().strip()
        return f"slider {label!r}: {before} -> {after}"
    toggles = cell.locator(".widget-toggle-button:not(.mod-active)")
    if toggles.count():
        text = toggles.first.inner_text().strip()
        toggles.first.click()
        return f"toggle button {text!r}"
    menu_ = cell.locator("select").first
    options = menu_.locator("option").all_inner_texts()
    current = menu_.evaluate("s => s.options[s.selectedIndex].text")
    choice = options[(options.index(current) + 1) % len(options)]
    menu_.select_option(label=choice)
    return f"menu: {current!r} -> {choice!r}"
