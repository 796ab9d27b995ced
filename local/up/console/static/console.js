// The console's only script, served by the console itself. A state picked in the graph shows its details beside
// it (the page's address names it: #state-NAME); a page marked data-refresh refreshes in place every few seconds
// while an execution it shows runs, keeping what the reader opened, picked and typed.
"use strict";

function showState() {
  document.querySelectorAll(".state-detail.shown, svg.graph .state.selected").forEach((element) => {
    element.classList.remove("shown", "selected");
  });
  const id = decodeURIComponent(location.hash.slice(1));
  const details = id.startsWith("state-") ? document.getElementById(id) : null;
  if (!details) return;
  details.classList.add("shown");
  const name = CSS.escape(details.dataset.state);
  document.querySelectorAll(`svg.graph .state[data-state="${name}"]`).forEach((box) => box.classList.add("selected"));
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='#state-']");
  if (!link) return;
  event.preventDefault();
  history.replaceState(null, "", link.getAttribute("href"));
  showState();
});

async function refresh() {
  let fresh;
  try {
    const response = await fetch(location.href, { cache: "no-store" });
    fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  } catch {
    setTimeout(refresh, 1000 * document.body.dataset.refresh); // make up stopping, or busy: try again
    return;
  }
  const open = [...document.querySelectorAll("details[open][id]")].map((details) => details.id);
  const typed = [...document.querySelectorAll("form[id] [name]")].map((field) => [field.form.id, field.name, field.value]);
  document.querySelector("header").replaceWith(fresh.querySelector("header"));
  document.querySelector("main").replaceWith(fresh.querySelector("main"));
  open.forEach((id) => document.getElementById(id)?.setAttribute("open", ""));
  for (const [form, name, value] of typed) {
    const field = document.getElementById(form)?.elements.namedItem(name);
    if (field && "value" in field) field.value = value;
  }
  showState();
  if (fresh.body.dataset.refresh) {
    setTimeout(refresh, 1000 * fresh.body.dataset.refresh);
  } else {
    delete document.body.dataset.refresh;
  }
}

showState();
if (document.body.dataset.refresh) setTimeout(refresh, 1000 * document.body.dataset.refresh);
