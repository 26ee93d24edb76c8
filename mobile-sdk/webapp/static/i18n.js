// Welsh and English. The key of every string is its English text (for
// strings with numbers, the printf form: "%d of %d"); cy.json maps it to
// Welsh. A test (webapp_test.go) fails when a string the app shows has no
// Welsh. The language follows the phone's, or the toggle (kept in
// localStorage: a preference, nothing personal).
"use strict";

const i18n = (() => {
  let cy = {};
  const pick = () => {
    const saved = localStorage.getItem("lang");
    if (saved === "cy" || saved === "en") return saved;
    return (navigator.languages || [navigator.language]).some((l) => /^cy\b/i.test(l || "")) ? "cy" : "en";
  };
  let lang = pick();
  const format = (s, args) => { let i = 0; return s.replace(/%[ds]/g, () => String(args[i++])); };
  const t = (key, ...args) => format(lang === "cy" && cy[key] ? cy[key] : key, args);
  // apply translates every [data-t] element, remembering its English text.
  const apply = (root) => {
    document.documentElement.lang = lang;
    for (const el of (root || document).querySelectorAll("[data-t]")) {
      if (!el.dataset.en) el.dataset.en = el.textContent.trim().replace(/\s+/g, " ");
      el.textContent = t(el.dataset.en);
    }
    for (const el of (root || document).querySelectorAll("[aria-label]")) {
      if (!el.dataset.enLabel) el.dataset.enLabel = el.getAttribute("aria-label");
      el.setAttribute("aria-label", t(el.dataset.enLabel));
    }
    const toggle = document.getElementById("lang");
    if (toggle) {
      toggle.textContent = lang === "cy" ? "English" : "Cymraeg";
      toggle.lang = lang === "cy" ? "en" : "cy";
    }
  };
  const load = () => fetch("cy.json").then((r) => r.json()).then((c) => { cy = c; }).catch(() => {});
  const set = (l) => { lang = l; localStorage.setItem("lang", l); apply(); };
  return { t, apply, load, set, get lang() { return lang; } };
})();
const t = i18n.t;
