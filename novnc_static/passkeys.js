// Passkeys (WebAuthn): registration on /account, sign-in on /login and /login/second-factor.
// The server sends options as JSON (py_webauthn's options_to_json: binary fields base64url);
// the browser's own JSON parsers/serialisers (PublicKeyCredential.parseCreationOptionsFromJSON,
// credential.toJSON) are used where present, else the few fields are converted here.

import { t } from './i18n.js';

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let s = "";
  for (const b of new Uint8Array(buffer)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return {
    ...json, challenge: fromB64url(json.challenge), user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return {
    ...json, challenge: fromB64url(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

function credentialJSON(cred) {
  if (typeof cred.toJSON === "function") return cred.toJSON();
  const r = cred.response, out = { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
    clientExtensionResults: cred.getClientExtensionResults(), response: { clientDataJSON: toB64url(r.clientDataJSON) } };
  if (r.attestationObject) {
    out.response.attestationObject = toB64url(r.attestationObject);
    out.response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    out.response.authenticatorData = toB64url(r.authenticatorData);
    out.response.signature = toB64url(r.signature);
    if (r.userHandle) out.response.userHandle = toB64url(r.userHandle);
  }
  return out;
}

async function post(url, body) {
  const resp = await fetch(url, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: body ? JSON.stringify(body) : "{}" });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error?.message || t('The gateway answered {status}.', { status: resp.status }));
  return data;
}

// The form's button comes disabled: a click before this module ran would submit the bare form
// (a reload that does nothing). It is enabled once the form is wired, where passkeys work.
function wire(form, run) {
  const status = form.querySelector("#passkey-status");
  if (!window.PublicKeyCredential) {
    status.textContent = t("This browser cannot use passkeys.");
    form.querySelector("button").disabled = true;
    return;
  }
  form.querySelector("button").disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    status.textContent = t("Follow your browser's prompt…");
    try {
      const next = await run();
      status.textContent = t("Done.");
      window.location.assign(next);
    } catch (err) {
      status.textContent = err.name === "NotAllowedError" ? t("Cancelled, or no passkey answered. Try again.") : err.message;
      button.disabled = false;
    }
  });
}

const add = document.getElementById("passkey-add");
if (add) {
  wire(add, async () => {
    const name = add.querySelector("#passkey-name").value.trim();
    if (!name) throw new Error(t("Give the passkey a name first."));
    const options = await post(add.dataset.options);
    const cred = await navigator.credentials.create({ publicKey: creationOptions(options) });
    return (await post(add.dataset.register, { name, credential: credentialJSON(cred) })).next;
  });
}

const login = document.getElementById("passkey-login");
if (login) {
  wire(login, async () => {
    const options = await post(login.dataset.options);
    const cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
    return (await post(login.dataset.login, credentialJSON(cred))).next;
  });
}
