// The API key: typed in or picked from the local demo accounts, kept in localStorage.
//
// Demo keys exist only on a developer's machine: `make run` writes
// public/local/demo-keys.json (gitignored and .vercelignored) and removes it on stop. Where
// the file is missing (every deployment) the picker stays hidden.

import { el } from "./dom.js";

const KEY_STORAGE = "sbs.apiKey";
const LABEL_STORAGE = "sbs.account";

export function storedSession() {
  const key = localStorage.getItem(KEY_STORAGE);
  return key ? { key, label: localStorage.getItem(LABEL_STORAGE) || maskKey(key) } : null;
}

export function storeSession(key, label) {
  localStorage.setItem(KEY_STORAGE, key);
  localStorage.setItem(LABEL_STORAGE, label);
}

export function forgetSession() {
  localStorage.removeItem(KEY_STORAGE);
  localStorage.removeItem(LABEL_STORAGE);
}

/** "sbs_1a2b3c4d_…" - the key's public id, never its secret. */
export function maskKey(key) {
  const match = /^(sbs_[^_]+_)/.exec(key);
  return match ? `${match[1]}…` : "API key …";
}

/** The demo accounts of `make run`, or [] (no file: not a local stack). */
export async function demoAccounts() {
  try {
    const response = await fetch("/local/demo-keys.json", { cache: "no-store" });
    if (!response.ok) return [];
    const body = await response.json();
    return (body.accounts ?? []).filter(
      (entry) => typeof entry?.account === "string" && typeof entry?.api_key === "string",
    );
  } catch {
    return [];
  }
}

/** Fill the demo picker (hidden when there is none). */
export function showDemoAccounts(select, accounts) {
  select.replaceChildren(el("option", { value: "" }, "demo account…"));
  for (const { account, api_key: key } of accounts) {
    select.append(el("option", { value: key, dataset: { account } }, account));
  }
  select.closest("[data-demo]").hidden = accounts.length === 0;
}
