// Periscope: small improvements on pages that work without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Exact times in the reader's own time zone, on hover.
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.title = d.toLocaleString() + " (" + t.title + ")";
  }
  // Copy buttons: <button class="copy" data-copy="text">.
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.classList.remove("hidden");
    b.addEventListener("click", (e) => {
      e.preventDefault();
      navigator.clipboard.writeText(b.dataset.copy).then(() => {
        const old = b.textContent; b.textContent = "Copied"; setTimeout(() => { b.textContent = old; }, 1200);
      });
    });
  }
  // "Show all frames" / "only in-app" without a reload.
  for (const a of document.querySelectorAll("a[data-frames]")) {
    a.addEventListener("click", (e) => {
      const all = a.dataset.frames === "all";
      const stacks = document.querySelectorAll(".stack");
      if (!stacks.length) return;
      e.preventDefault();
      for (const s of stacks) {
        for (const f of s.querySelectorAll(".library")) f.classList.toggle("hidden", !all);
        for (const n of s.querySelectorAll(".folded")) n.classList.toggle("hidden", all);
      }
      for (const other of document.querySelectorAll("a[data-frames]")) other.classList.toggle("hidden", other === a);
      history.replaceState(null, "", a.href);
    });
  }
  // Select every row of the issue list.
  const all = document.querySelector("input[data-select-all]");
  if (all) all.addEventListener("change", () => {
    for (const c of document.querySelectorAll("input[name=id]")) c.checked = all.checked;
  });
  // Keyboard: j/k next/previous event, / focuses search.
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select") || e.metaKey || e.ctrlKey || e.altKey) return;
    const go = (rel) => { const a = document.querySelector("a[rel=" + rel + "]"); if (a) a.click(); };
    if (e.key === "j") go("next");
    else if (e.key === "k") go("prev");
    else if (e.key === "/") { const s = document.querySelector("input[type=search]"); if (s) { e.preventDefault(); s.focus(); } }
  });
});
