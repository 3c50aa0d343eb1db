/*
 * QHAna micro-frontend helper: the plugin side of the postMessage protocol
 * (runner-api.md §5.1, §5.2, §12). Plain modern JavaScript, no dependencies.
 *
 * Active only when the page is embedded (iframe or popup) and only once per page.
 * Pages may install on window._qhana_microfrontend_state:
 *   messageHandler(event) -> true when the message was handled
 *   formSubmitHandler(event, dataInputs, privateInputs) -> true when the submit was handled
 */
(function () {
    "use strict";

    const RESIZE_POLL_MS = 50;
    const RESIZE_POLL_TOTAL_MS = 3000;
    const PRIVATE_PLACEHOLDER = "***";

    let state = window._qhana_microfrontend_state || null;

    window.getPluginContext = function getPluginContext() {
        return state ? state.pluginContext : null;
    };

    if (window.top === window.self || state != null) {
        return;
    }

    state = {
        preventSubmit: false,
        pluginContext: null,
        messageHandler: null,
        formSubmitHandler: null,
        lastHeight: -1,
        pollTimer: null,
        target: window.opener || window.parent,
    };
    window._qhana_microfrontend_state = state;

    function sendMessage(message) {
        state.target.postMessage(message, "*");
    }

    // --- size -----------------------------------------------------------------------------

    function measureHeight() {
        const body = document.body;
        if (body == null) {
            return 0;
        }
        const style = window.getComputedStyle(body);
        const margins = (parseFloat(style.marginTop) || 0) + (parseFloat(style.marginBottom) || 0);
        return Math.ceil(body.scrollHeight + margins);
    }

    function notifyResize(force) {
        const height = measureHeight();
        if (force || height !== state.lastHeight) {
            state.lastHeight = height;
            sendMessage({ type: "ui-resize", height: height });
        }
    }

    function pollResize() {
        if (state.pollTimer != null) {
            window.clearInterval(state.pollTimer);
        }
        const stopAt = Date.now() + RESIZE_POLL_TOTAL_MS;
        state.pollTimer = window.setInterval(function () {
            notifyResize(false);
            if (Date.now() >= stopAt) {
                window.clearInterval(state.pollTimer);
                state.pollTimer = null;
            }
        }, RESIZE_POLL_MS);
    }

    function watchResize() {
        if (typeof window.ResizeObserver === "function") {
            new ResizeObserver(function () { notifyResize(false); }).observe(document.body);
        }
        window.addEventListener("load", function () { notifyResize(false); });
    }

    // --- inputs ---------------------------------------------------------------------------

    function quoted(value) {
        return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
    }

    function isPrivateInput(element) {
        return element.type === "password" || element.hasAttribute("data-private");
    }

    function dataInputElements() {
        return Array.from(document.querySelectorAll('input[data-input-type="data"]'));
    }

    function pluginInputElements() {
        return Array.from(document.querySelectorAll('input[data-input-type="plugin"]'));
    }

    function setInputValue(element, value) {
        if (element.type === "checkbox") {
            element.checked = ["on", "true", "1", "yes"].includes(String(value).toLowerCase());
        } else if (element.type === "radio") {
            element.checked = element.value === String(value);
        } else {
            element.value = value == null ? "" : String(value);
        }
        element.dispatchEvent(new Event("input", { bubbles: true }));
        element.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function setSelectValues(select, values) {
        const wanted = values.map(String);
        for (const option of select.options) {
            option.selected = select.multiple ? wanted.includes(option.value) : option.value === wanted[0];
        }
        select.dispatchEvent(new Event("input", { bubbles: true }));
        select.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function showText(selector, inputKey, text) {
        const target = document.querySelector(selector + '[data-input-id="' + quoted(inputKey) + '"]');
        if (target != null) {
            target.textContent = text;
        }
    }

    function updatePreviewButtons() {
        for (const button of document.querySelectorAll(".qhana-show-preview-button")) {
            const input = document.getElementById(button.dataset.inputId || "");
            button.hidden = !(input && input.value);
        }
    }

    function unhideHostButtons() {
        const buttons = document.querySelectorAll(".qhana-choose-file-button, .qhana-choose-plugin-button");
        for (const button of buttons) {
            button.hidden = false;
        }
        updatePreviewButtons();
    }

    function requestInputInfo() {
        for (const input of dataInputElements()) {
            if (input.value) {
                sendMessage({ type: "request-data-url-info", inputKey: input.id, dataUrl: input.value });
            }
        }
        for (const input of pluginInputElements()) {
            if (input.value) {
                sendMessage({ type: "request-plugin-url-info", inputKey: input.id, pluginUrl: input.value });
            }
        }
    }

    // --- host -> plugin -------------------------------------------------------------------

    function loadCss(urls) {
        const present = new Set(
            Array.from(document.querySelectorAll("link[data-qhana-host-css]")).map((l) => l.getAttribute("href"))
        );
        for (const url of urls || []) {
            if (typeof url !== "string" || present.has(url)) {
                continue;
            }
            const link = document.createElement("link");
            link.rel = "stylesheet";
            link.href = url;
            link.setAttribute("data-qhana-host-css", "");
            link.addEventListener("load", function () { notifyResize(false); });
            document.head.appendChild(link);
            present.add(url);
        }
        document.body.style.background = "transparent";
        notifyResize(false);
        pollResize();
    }

    function onDataUrlResponse(data) {
        const input = document.getElementById(data.inputKey || "");
        if (input == null) {
            return;
        }
        if (typeof data.href === "string" && input.value !== data.href) {
            setInputValue(input, data.href);
        }
        let text = data.filename || data.href || "";
        if (data.version != null) {
            text += " (v" + data.version + ")";
        }
        const kind = [data.dataType, data.contentType].filter(Boolean).join(" – ");
        showText(".selected-file-name", data.inputKey, kind ? text + " " + kind : text);
        updatePreviewButtons();
    }

    function onPluginUrlResponse(data) {
        const input = document.getElementById(data.inputKey || "");
        if (input == null) {
            return;
        }
        if (typeof data.pluginUrl === "string" && input.value !== data.pluginUrl) {
            setInputValue(input, data.pluginUrl);
        }
        let text = data.pluginName || data.pluginUrl || "";
        if (data.pluginVersion) {
            text += " (" + data.pluginVersion + ")";
        }
        showText(".selected-plugin-name", data.inputKey, text);
    }

    function decodeAutofill(value, encoding) {
        const entries = new Map();
        if (encoding === "application/json") {
            const parsed = typeof value === "string" ? JSON.parse(value) : value;
            for (const [key, item] of Object.entries(parsed || {})) {
                entries.set(key, Array.isArray(item) ? item : [item]);
            }
        } else {
            for (const [key, item] of new URLSearchParams(value || "")) {
                entries.set(key, (entries.get(key) || []).concat([item]));
            }
        }
        return entries;
    }

    function fillField(name, values) {
        const selector = ["input", "textarea", "select"].map((tag) => tag + '[name="' + quoted(name) + '"]').join(",");
        for (const element of document.querySelectorAll(selector)) {
            if (element.tagName === "SELECT") {
                setSelectValues(element, values);
            } else if (element.tagName === "TEXTAREA") {
                setInputValue(element, values[0]);
            } else if (!isPrivateInput(element) && element.type !== "file") {
                setInputValue(element, element.type === "checkbox" ? values.some((v) => ["on", "true"].includes(String(v).toLowerCase())) : values[0]);
            }
        }
    }

    function onAutofill(data) {
        let entries;
        try {
            entries = decodeAutofill(data.value, data.encoding);
        } catch (error) {
            console.warn("qhana micro-frontend: cannot decode autofill-response", error);
            return;
        }
        for (const [name, values] of entries) {
            fillField(name, values);
        }
        updatePreviewButtons();
        requestInputInfo();
    }

    function sendSubmitStatus() {
        sendMessage({ type: "ui-submit-status", isAllowedToSubmit: !state.preventSubmit });
    }

    const STRING_MESSAGES = {
        "ui-prevent-submit": function () { state.preventSubmit = true; sendSubmitStatus(); },
        "ui-allow-submit": function () { state.preventSubmit = false; sendSubmitStatus(); },
        "ui-submit-status": sendSubmitStatus,
    };

    const OBJECT_MESSAGES = {
        "load-css": function (data) { loadCss(data.urls); },
        "data-url-response": onDataUrlResponse,
        "plugin-url-response": onPluginUrlResponse,
        "autofill-response": onAutofill,
        "plugin-context": function (data) { state.pluginContext = data; },
        "ui-prevent-submit": STRING_MESSAGES["ui-prevent-submit"],
        "ui-allow-submit": STRING_MESSAGES["ui-allow-submit"],
        "ui-submit-status": sendSubmitStatus,
    };

    function onMessage(event) {
        if (typeof state.messageHandler === "function" && state.messageHandler(event)) {
            return;
        }
        const data = event.data;
        if (typeof data === "string") {
            const handler = STRING_MESSAGES[data];
            if (handler) {
                handler();
            }
        } else if (data != null && typeof data === "object" && typeof data.type === "string") {
            const handler = Object.prototype.hasOwnProperty.call(OBJECT_MESSAGES, data.type) ? OBJECT_MESSAGES[data.type] : null;
            if (handler) {
                handler(data);
            }
        }
    }

    // --- plugin -> host: user actions -------------------------------------------------------

    function onClick(event) {
        const button = event.target instanceof Element ? event.target.closest("button") : null;
        if (button == null) {
            return;
        }
        const inputKey = button.dataset.inputId || "";
        if (button.classList.contains("qhana-choose-file-button")) {
            event.preventDefault();
            sendMessage({
                type: "request-data-url",
                inputKey: inputKey,
                acceptedInputType: button.dataset.input || "*",
                acceptedContentTypes: (button.dataset.contentType || "*").split(/\s+/).filter(Boolean),
            });
        } else if (button.classList.contains("qhana-choose-plugin-button")) {
            event.preventDefault();
            const message = {
                type: "request-plugin-url",
                inputKey: inputKey,
                pluginTags: (button.dataset.pluginTags || "").split(/\s+/).filter(Boolean),
            };
            if (button.dataset.pluginName) {
                message.pluginName = button.dataset.pluginName;
            }
            if (button.dataset.pluginVersion) {
                message.pluginVersion = button.dataset.pluginVersion;
            }
            sendMessage(message);
        } else if (button.classList.contains("qhana-show-preview-button")) {
            event.preventDefault();
            const input = document.getElementById(inputKey);
            if (input && input.value) {
                sendMessage({ type: "request-data-preview", dataUrl: input.value });
            }
        }
    }

    // --- form submission ------------------------------------------------------------------

    function privateNames(form) {
        const names = new Set();
        for (const element of form.elements) {
            if (element.name && isPrivateInput(element)) {
                names.add(element.name);
            }
        }
        return names;
    }

    function dataInputValues(form) {
        const values = [];
        for (const element of form.querySelectorAll('[data-input-type="data"]')) {
            if (element.value && !values.includes(element.value)) {
                values.push(element.value);
            }
        }
        return values;
    }

    function publicFormData(formData, hidden) {
        const encoded = new URLSearchParams();
        for (const [key, value] of formData) {
            if (hidden.has(key)) {
                encoded.append(key, PRIVATE_PLACEHOLDER);
            } else if (typeof value === "string") {
                encoded.append(key, value);
            } else {
                encoded.append(key, "Uploaded file: " + value.name);
            }
        }
        return encoded.toString();
    }

    async function readError(response) {
        const text = await response.text();
        try {
            return JSON.parse(text);
        } catch (_error) {
            return text;
        }
    }

    function clearFieldErrors(form) {
        // server-rendered messages are as stale as our own after a new API answer
        for (const element of form.querySelectorAll(".qhana-error-message")) {
            element.remove();
        }
    }

    function errorParagraph(message) {
        const paragraph = document.createElement("p");
        paragraph.className = "qhana-error-message";
        paragraph.setAttribute("data-qhana-client-error", "");
        const span = document.createElement("span");
        span.textContent = String(message);
        paragraph.appendChild(span);
        return paragraph;
    }

    function showFieldErrors(form, error) {
        const locations = error && typeof error === "object" && error.errors;
        if (!locations || typeof locations !== "object") {
            return;
        }
        for (const fields of Object.values(locations)) {
            for (const [name, messages] of Object.entries(fields || {})) {
                const input = form.querySelector('[name="' + quoted(name) + '"]');
                const field = input ? input.closest(".qhana-form-field") : null;
                for (const message of [].concat(messages)) {
                    const paragraph = errorParagraph(field ? message : name + ": " + message);
                    if (field) {
                        field.appendChild(paragraph);
                    } else {
                        form.prepend(paragraph);
                    }
                }
            }
        }
    }

    async function submitToApi(form, submitter) {
        const submitUrl = new URL((submitter && submitter.formAction) || form.action, window.location.href).href;
        const formData = new FormData(form);
        const message = {
            type: "form-submit",
            formData: publicFormData(formData, privateNames(form)),
            formDataType: "application/x-www-form-urlencoded",
            dataInputs: dataInputValues(form),
            submitUrl: submitUrl,
        };
        if (state.preventSubmit) {
            sendMessage(message);
            return;
        }
        let response;
        try {
            response = await fetch(submitUrl, { method: "POST", body: formData, redirect: "follow" });
        } catch (_error) {
            sendMessage({ type: "form-error", status: 500, error: "unknown error" });
            return;
        }
        clearFieldErrors(form);
        if (response.status === 200) {
            message.resultUrl = response.url;
            sendMessage(message);
            return;
        }
        const error = await readError(response);
        if (response.status === 422) {
            showFieldErrors(form, error);
        }
        sendMessage({ type: "form-error", status: response.status, error: error });
    }

    function onSubmit(event) {
        const form = event.target;
        if (!(form instanceof HTMLFormElement)) {
            return;
        }
        const submitter = event.submitter || null;
        if (typeof state.formSubmitHandler === "function") {
            if (state.formSubmitHandler(event, dataInputValues(form), Array.from(privateNames(form)))) {
                return;
            }
        }
        const target = (submitter && submitter.dataset.target) || form.dataset.target || "microfrontend";
        sendMessage("ui-loading");
        if (target !== "api") {
            return; // a normal browser submit replaces the page (validate)
        }
        event.preventDefault();
        submitToApi(form, submitter).catch(function (error) {
            console.error("qhana micro-frontend: submit failed", error);
            sendMessage({ type: "form-error", status: 500, error: "unknown error" });
        });
    }

    // --- start ----------------------------------------------------------------------------

    function start() {
        window.addEventListener("message", onMessage);
        document.addEventListener("click", onClick);
        document.addEventListener("submit", onSubmit);
        document.addEventListener("input", updatePreviewButtons);
        sendMessage("ui-loaded");
        notifyResize(true);
        unhideHostButtons();
        requestInputInfo();
        watchResize();
    }

    window.qhanaMicrofrontend = {
        sendMessage: sendMessage,
        notifyResize: function () { notifyResize(true); },
        getPluginContext: window.getPluginContext,
    };

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
