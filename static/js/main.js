/**
 * The page's entry point: tabs, the "Explain every figure" toggle, the server's settings, then
 * each view, and only then the tab announcement. The views live in views/ and wire only their
 * own tab; shared DOM helpers are in ui.js; the protocol modules
 * (`open({onMessage, onStatus}) -> {send, close}`) never touch the document.
 */

import { byId } from "./dom.js";
import { loadConfig, watchServer } from "./server-status.js";
import { followHiddenLists } from "./ui.js";
import { setupCompare } from "./views/compare.js";
import { setupConnLimit } from "./views/connlimit.js";
import { setupDiagnose } from "./views/diagnose.js";
import { setupEchoPanels } from "./views/panels.js";
import { setupPush } from "./views/push.js";
import { setupRooms } from "./views/rooms.js";

/**
 * ARIA tabs: click or arrow keys; the hash (#compare …) selects a tab and deep-links to it.
 * Returns a function that announces the current tab (`tabshown`); boot calls it once every
 * view listens, so a page opened at #push starts its view like a click on the tab would.
 * @returns {() => void}
 */
function setupTabs() {
  const tabs = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('[role="tab"]')]);
  const byName = (name) => tabs.find((tab) => tab.id === `tab-${name}`);

  const announce = (tab) => window.dispatchEvent(new CustomEvent("tabshown", { detail: tab.id.replace("tab-", "") }));

  function select(tab, focus = false, announced = true) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      const view = byId(/** @type {string} */ (other.getAttribute("aria-controls")));
      view.hidden = !selected;
      if (selected) followHiddenLists(view);
    }
    if (focus) tab.focus();
    // On a narrow screen the tab strip scrolls sideways: keep the selected tab in view.
    tab.scrollIntoView({ block: "nearest", inline: "nearest" });
    const name = tab.id.replace("tab-", "");
    history.replaceState(null, "", name === "echo" ? location.pathname + location.search : `#${name}`);
    if (announced) announce(tab);
  }

  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
    });
  });
  const initial = byName(location.hash.slice(1));
  if (initial) select(initial, false, false);
  return () => announce(tabs.find((tab) => tab.getAttribute("aria-selected") === "true") ?? tabs[0]);
}

/** "Explain every figure": show the line under each figure that says how it is obtained. */
function setupExplainToggle() {
  const toggle = /** @type {HTMLInputElement} */ (byId("explain-figures"));
  const key = "protocol-lab-explain";
  try {
    toggle.checked = localStorage.getItem(key) === "1";
  } catch {
    // Storage may be disabled; the toggle still works for this visit.
  }
  const apply = () => {
    document.body.classList.toggle("explain-figures", toggle.checked);
    try {
      localStorage.setItem(key, toggle.checked ? "1" : "0");
    } catch {
      // as above
    }
  };
  toggle.addEventListener("change", apply);
  apply();
}

async function boot() {
  const announceTab = setupTabs();
  setupExplainToggle();
  await loadConfig(); // settings shape the echo panels (sse_retry, ws_max_size, rate limits)
  watchServer();
  setupEchoPanels();
  setupCompare();
  setupPush();
  setupRooms();
  setupDiagnose();
  setupConnLimit();
  announceTab(); // after every view listens, so a page opened at #push starts its view
  document.documentElement.dataset.ready = "true";
}

boot();
