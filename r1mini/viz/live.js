/* r1mini's live panel, in the page: a shipped checkpoint answers the reader's problem token by token.
 *
 * The model is r1mini's own forward exported to ONNX (r1mini.io.onnx_export), run by onnxruntime-web
 * on its WASM backend (vendored into _static/vendor/ort by book/vendor.sh; nothing from a CDN). The
 * vocabulary, the special tokens, the template of generate_text, the stop token, the context, the
 * messages for bad input and the colours come from live.json, which r1mini.viz.live writes from
 * r1mini's own constants. The panel recomputes the whole sequence for each new token (the graph has
 * no KV cache) and samples like r1mini.reasoning.generate: argmax at temperature 0, otherwise a
 * draw from softmax(logits / T) over the top-p nucleus. The rule rewards are R1's (§2.2.2): format,
 * and accuracy against the arithmetic the reader typed. window.r1live exposes the pieces for tests.
 */
"use strict";
(() => {
  const here = new URL(".", document.currentScript.src).href; // .../_static/live/
  const state = { spec: null, sessions: {}, last: null, busy: false };

  // ---- tokenizer and template (r1mini.reasoning.tokenizer, template) ----------------------------
  function splitTokens(spec, text) {
    const pieces = [];
    let position = 0;
    while (position < text.length) {
      const special = spec.specials_longest_first.find((s) => text.startsWith(s, position));
      const piece = special ?? String.fromCodePoint(text.codePointAt(position));
      pieces.push(piece);
      position += piece.length;
    }
    return pieces;
  }

  function encode(spec, text) {
    const index = state.index ?? (state.index = new Map(spec.vocab.map((t, i) => [t, i])));
    return splitTokens(spec, text).map((piece) => {
      if (!index.has(piece)) throw new Error(`encode: ${JSON.stringify(piece)} is not in the vocabulary`);
      return index.get(piece);
    });
  }

  const decode = (spec, ids) => ids.map((id) => spec.vocab[id]).join("");
  const renderPrompt = (spec, problem) => spec.bos + spec.prompt_format.replace("{prompt}", () => problem);
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));

  // r1mini.viz.live.check_prompt: the ids, or the message for bad input
  function checkPrompt(spec, text, context) {
    if (!text.trim()) return { message: fill(spec.messages.empty, { example: spec.example }) };
    const characters = Array.from(text);
    for (let i = 0; i < characters.length; i++) {
      if (!spec.characters.includes(characters[i]) || characters[i].length !== 1) {
        const punctuation = Array.from(spec.characters)
          .filter((c) => !/[\p{L}\p{N}\s]/u.test(c))
          .join(" ");
        const values = { character: JSON.stringify(characters[i]), position: i + 1, punctuation };
        return { message: fill(spec.messages.vocabulary, values) };
      }
    }
    const ids = encode(spec, renderPrompt(spec, text));
    if (ids.length > context - spec.response_room) {
      const limit = context - spec.response_room - (ids.length - characters.length);
      const values = { tokens: ids.length, context, room: spec.response_room, limit };
      return { message: fill(spec.messages.too_long, values) };
    }
    return { ids };
  }

  // ---- sampling (r1mini.reasoning.generate.sample_next, filter_logits) --------------------------
  function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function pick(logits, offset, n, temperature, topP, random) {
    if (temperature === 0) {
      let best = 0;
      for (let i = 1; i < n; i++) if (logits[offset + i] > logits[offset + best]) best = i; // first max
      return best;
    }
    const scaled = Array.from({ length: n }, (_, i) => logits[offset + i] / temperature);
    const order = [...scaled.keys()].sort((a, b) => scaled[b] - scaled[a]);
    const top = scaled[order[0]];
    const exp = order.map((i) => Math.exp(scaled[i] - top));
    const sum = exp.reduce((a, b) => a + b, 0);
    let before = 0;
    let kept = 0;
    while (kept < n && before < topP) before += exp[kept++] / sum; // the nucleus; the first always
    const mass = exp.slice(0, kept).reduce((a, b) => a + b, 0);
    let u = random() * mass;
    for (let k = 0; k < kept; k++) {
      u -= exp[k];
      if (u <= 0) return order[k];
    }
    return order[kept - 1];
  }

  // ---- rewards (r1mini.reasoning.rewards.format_reward, arithmetic.check_integer) ---------------
  const count = (text, tag) => text.split(tag).length - 1;
  const strip = (text) => text.replace(/^\s+|\s+$/g, "");

  function formatReward(spec, response) {
    const tags = spec.tags;
    if (!strip(response)) return [0, "empty response"];
    for (const tag of tags) {
      const n = count(response, tag);
      if (n !== 1) return [0, `${tag} appears ${n} times, not once`];
    }
    const starts = tags.map((tag) => response.indexOf(tag));
    if (starts.some((s, i) => i > 0 && s < starts[i - 1])) {
      const found = tags
        .map((tag, i) => [starts[i], tag])
        .sort((a, b) => a[0] - b[0])
        .map((p) => p[1]);
      return [0, `tags out of order: ${found.join(" ")}, not ${tags.join(" ")}`];
    }
    const ends = starts.map((s, i) => s + tags[i].length);
    const after = response.slice(ends[3]).split(spec.eos).join("").split(spec.pad).join("");
    const outside = [
      [`before ${tags[0]}`, response.slice(0, starts[0])],
      [`between ${tags[1]} and ${tags[2]}`, response.slice(ends[1], starts[2])],
      [`after ${tags[3]}`, after],
    ];
    for (const [where, text] of outside) {
      if (strip(text)) return [0, `text ${where}: ${JSON.stringify(strip(text).slice(0, 40))}`];
    }
    return [1, `well-formed: one ${tags[0]} block, then one ${tags[2]} block`];
  }

  function block(response, opening, closing) {
    if (count(response, opening) !== 1 || count(response, closing) !== 1) return null;
    const start = response.indexOf(opening) + opening.length;
    const end = response.indexOf(closing);
    return start <= end ? strip(response.slice(start, end)) : null;
  }

  // r1mini.viz.live.expected_answer: + - * and parentheses over whole numbers, in BigInt
  function expectedAnswer(prompt) {
    const match = /^\s*(?:compute\s+)?([0-9+\-*()\s]+?)\s*$/i.exec(prompt);
    if (!match) return null;
    const tokens = match[1].match(/\d+|[+\-*()]/g) ?? [];
    if (tokens.join("") !== match[1].replace(/\s+/g, "")) return null;
    let position = 0;
    const fail = () => {
      throw new Error("not arithmetic");
    };
    const atom = () => {
      const token = tokens[position++];
      if (token === "(") {
        const value = total();
        if (tokens[position++] !== ")") fail();
        return value;
      }
      if (token === "-") return -atom();
      if (!/^\d+$/.test(token ?? "")) fail();
      return BigInt(token);
    };
    const product = () => {
      let value = atom();
      while (tokens[position] === "*") {
        position++;
        value *= atom();
      }
      return value;
    };
    const total = () => {
      let value = product();
      while (tokens[position] === "+" || tokens[position] === "-") {
        value = tokens[position++] === "+" ? value + product() : value - product();
      }
      return value;
    };
    try {
      const value = total();
      return position === tokens.length ? value : null;
    } catch {
      return null;
    }
  }

  function checkInteger(expected, answerText) {
    const text = strip(answerText);
    const shown = text.length <= 40 ? text : `${text.slice(0, 40)}… (${text.length} characters)`;
    if (!/^-?[0-9]+$/.test(text)) return [0, `answer ${JSON.stringify(shown)} is not a whole number`];
    const digits = text.replace(/^-/, "").replace(/^0+/, "") || "0";
    const canonical = digits === "0" || !text.startsWith("-") ? digits : `-${digits}`;
    if (canonical !== expected.toString()) return [0, `answer ${shown} is wrong`];
    return [1, `answer ${text} is right`];
  }

  function verdict(spec, prompt, response) {
    const expected = expectedAnswer(prompt);
    const answer = block(response, spec.tags[2], spec.tags[3]);
    let accuracy;
    if (expected === null) accuracy = [null, "no arithmetic in the problem for the page to check the answer against"];
    else if (answer === null) accuracy = [0, `no single ${spec.tags[2]}...${spec.tags[3]} block to check`];
    else {
      const [value, reason] = checkInteger(expected, answer);
      accuracy = [value, `${reason} (${strip(prompt)} = ${expected})`];
    }
    return { format: formatReward(spec, response), accuracy };
  }

  // ---- the model --------------------------------------------------------------------------------
  async function session(name) {
    if (!window.ort) {
      await new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `${here}../vendor/ort/ort.wasm.min.js`;
        script.onload = resolve;
        script.onerror = () => reject(new Error("onnxruntime-web did not load"));
        document.head.appendChild(script);
      });
      ort.env.wasm.wasmPaths = `${here}../vendor/ort/`;
      ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page
    }
    if (!state.sessions[name]) {
      state.sessions[name] = ort.InferenceSession.create(`${here}${state.spec.models[name].file}`, {
        executionProviders: ["wasm"],
      });
    }
    return state.sessions[name];
  }

  const tensor = (ids) => new ort.Tensor("int64", BigInt64Array.from(ids, (i) => BigInt(i)), [1, ids.length]);

  // Continue `ids` until the stop token or the context's end; onToken(id) after each new token.
  async function generate(model, ids, { temperature = 0, topP = 1, seed = 0, onToken = null } = {}) {
    const spec = state.spec;
    const tokens = ids.slice();
    const random = mulberry32(seed);
    const maxNew = spec.models[model].max_seq_len - ids.length; // generate_text's default
    const run = await session(model);
    for (let step = 0; step < maxNew; step++) {
      const { logits } = await run.run({ tokens: tensor(tokens) }, ["logits"]);
      const vocab = logits.dims[2];
      const next = pick(logits.data, (tokens.length - 1) * vocab, spec.vocab_limit, temperature, topP, random);
      tokens.push(next);
      if (onToken) await onToken(next, step);
      if (next === spec.eos_id) break;
    }
    return tokens.slice(ids.length);
  }

  // the response text of generated ids (r1mini.reasoning.template.decode_response)
  function decodeResponse(spec, generated) {
    const end = generated.indexOf(spec.eos_id);
    return spec.prefill + decode(spec, end < 0 ? generated : generated.slice(0, end));
  }

  async function inspect(model, ids) {
    const run = await session(model);
    const out = await run.run({ tokens: tensor(ids) }, ["expert_ids", "expert_weights", "attention"]);
    return { ids, expertIds: out.expert_ids, expertWeights: out.expert_weights, attention: out.attention };
  }

  // ---- the panel --------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const label = (i, token) => {
    const body = token.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
    return `${i}:${token.includes("'") && !token.includes('"') ? `"${body}"` : `'${body}'`}`;
  };

  function showPieces(spec, pieces) {
    const out = $("r1-live-output");
    out.textContent = "";
    for (const [text, part] of pieces) {
      const span = document.createElement("span");
      span.setAttribute("style", spec.part_styles[part]);
      span.dataset.part = part;
      span.textContent = text;
      out.appendChild(span);
    }
  }

  function heatmapLayout(title, xTitle, yTitle, rows) {
    return {
      title: { text: title },
      height: Math.min(Math.max(460, 16 * rows + 160), 1800),
      margin: { l: 110, r: 30, t: 70, b: 110 },
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle }, autorange: "reversed" },
      font: { size: 11 },
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
    };
  }

  function drawInspection() {
    const spec = state.spec;
    const last = state.last;
    if (!last) return;
    const m = spec.models[last.model];
    const n = $("r1-live-span").value === "prompt" ? last.promptLength : last.ids.length;
    const tokens = last.ids.slice(0, n).map((id) => spec.vocab[id]);
    const labels = tokens.map((t, i) => label(i, t));
    const T = last.ids.length;
    const moe = Number($("r1-live-layer").value);
    const slot = m.moe_layers.indexOf(moe);
    const k = m.topk;
    const z = labels.map(() => new Array(m.n_experts).fill(0)); // [T, E] gate weight, 0 if not chosen
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < k; j++) {
        const at = (slot * T + t) * k + j;
        z[t][Number(last.expertIds.data[at])] = last.expertWeights.data[at];
      }
    }
    const experts = [...Array(m.n_experts).keys()].map((e) => `e${e} (g${Math.floor(e / m.experts_per_group)})`);
    Plotly.react(
      $("r1-live-routing"),
      [{ type: "heatmap", z, x: experts, y: labels, colorscale: "Cividis", zmin: 0, colorbar: { title: { text: "gate weight" } },
         hovertemplate: "token %{y}<br>expert %{x}<br>gate weight %{z:.3f}<extra></extra>" }],
      heatmapLayout(`${last.model}, layer ${moe}: each token's top-${k} routed experts`, "routed expert (group)",
        "token (position: character)", n),
      { responsive: true },
    );
    const layer = Number($("r1-live-attn-layer").value);
    const head = Number($("r1-live-head").value);
    const probs = [];
    for (let q = 0; q < n; q++) {
      const row = ((layer * m.n_heads + head) * T + q) * T;
      probs.push(Array.from(last.attention.data.subarray(row, row + n)));
    }
    Plotly.react(
      $("r1-live-attention"),
      [{ type: "heatmap", z: probs, x: labels, y: labels, colorscale: "Cividis", zmin: 0, colorbar: { title: { text: "probability" } },
         hovertemplate: "query %{y}<br>key %{x}<br>p = %{z:.3f}<extra></extra>" }],
      heatmapLayout(`${last.model}: attention, layer ${layer}, head ${head}`, "key position: token (attended to)",
        "query position: token (attending)", n),
      { responsive: true },
    );
  }

  function options(select, values, text) {
    select.textContent = "";
    for (const v of values) select.add(new Option(text(v), String(v)));
  }

  async function onRun() {
    if (state.busy) return;
    const spec = state.spec;
    const status = $("r1-live-status");
    const model = $("r1-live-model").value;
    const problem = $("r1-live-prompt").value;
    const checked = checkPrompt(spec, problem, spec.models[model].max_seq_len);
    $("r1-live-reward").textContent = "";
    if (!checked.ids) {
      $("r1-live-output").textContent = "";
      $("r1-live-inspect").style.display = "none";
      status.textContent = checked.message;
      status.style.color = "#D55E00";
      status.dataset.kind = "error";
      return;
    }
    const temperature = Math.max(0, Number($("r1-live-temperature").value) || 0);
    const topP = Math.min(1, Math.max(0.05, Number($("r1-live-top-p").value) || 1));
    const seed = (Math.random() * 2 ** 32) >>> 0;
    state.busy = true;
    $("r1-live-run").disabled = true;
    status.style.color = "#333333";
    status.dataset.kind = "running";
    status.textContent = `${model} is thinking…`;
    const pieces = [[spec.prefill, "thinking"]];
    showPieces(spec, pieces);
    const loading = performance.now();
    let start = null;
    let first = null;
    let part = "thinking";
    try {
      await session(model); // the first run loads onnxruntime-web and the model
      start = performance.now();
      const generated = await generate(model, checked.ids, {
        temperature,
        topP,
        seed,
        onToken: async (id) => {
          if (first === null) first = performance.now();
          if (id !== spec.eos_id) {
            const text = spec.vocab[id];
            if (pieces[pieces.length - 1][1] === part) pieces[pieces.length - 1][0] += text;
            else pieces.push([text, part]);
            if (text === spec.tags[1]) part = "answer";
            showPieces(spec, pieces);
          }
          await new Promise((resolve) => setTimeout(resolve, 0)); // let the page draw
        },
      });
      const end = performance.now();
      const response = decodeResponse(spec, generated);
      const v = verdict(spec, problem, response);
      const rate = generated.length > 1 ? (generated.length - 1) / ((end - first) / 1000) : 0;
      const how = temperature === 0 ? "greedy" : `temperature ${temperature}, top-p ${topP}, seed ${seed}`;
      const loaded = start - loading > 50 ? `loaded in ${((start - loading) / 1000).toFixed(2)} s, ` : "";
      status.textContent =
        `${model} (${how}): ${generated.length} tokens; ${loaded}first token after ` +
        `${((first - start) / 1000).toFixed(3)} s, then ${rate.toFixed(0)} tokens/s in this page.`;
      status.dataset.kind = "done";
      Object.assign(status.dataset, {
        loadMs: (start - loading).toFixed(1),
        firstTokenMs: (first - start).toFixed(1),
        tokensPerSecond: rate.toFixed(2),
        tokens: generated.length,
      });
      const reward = $("r1-live-reward");
      reward.textContent = "";
      for (const [name, [value, reason]] of Object.entries(v)) {
        const line = document.createElement("div");
        line.textContent = `${name} reward: ${value === null ? "–" : value} (${reason})`;
        line.dataset.reward = name;
        line.dataset.value = value === null ? "" : String(value);
        reward.appendChild(line);
      }
      let ids = checked.ids.concat(generated);
      if (ids[ids.length - 1] === spec.eos_id) ids = ids.slice(0, -1);
      const seen = await inspect(model, ids);
      state.last = { model, promptLength: checked.ids.length, ...seen };
      const m = spec.models[model];
      options($("r1-live-layer"), m.moe_layers, (l) => `${l}`);
      options($("r1-live-attn-layer"), [...Array(m.n_layers).keys()], (l) => `${l}`);
      options($("r1-live-head"), [...Array(m.n_heads).keys()], (h) => `${h}`);
      $("r1-live-inspect").style.display = "";
      drawInspection();
    } catch (error) {
      status.textContent = `The model could not run: ${error.message ?? error}`;
      status.style.color = "#D55E00";
      status.dataset.kind = "error";
    } finally {
      state.busy = false;
      $("r1-live-run").disabled = false;
    }
  }

  async function start() {
    const response = await fetch(`${here}live.json`);
    state.spec = await response.json();
    for (const id of ["r1-live-layer", "r1-live-attn-layer", "r1-live-head", "r1-live-span"]) {
      $(id).addEventListener("change", drawInspection);
    }
    $("r1-live-run").addEventListener("click", onRun);
    $("r1-live-prompt").addEventListener("keydown", (e) => {
      if (e.key === "Enter") onRun();
    });
    $("r1-live-run").disabled = false;
    const status = $("r1-live-status");
    status.textContent = "Type a problem and press Run: the model runs in this page (the first run loads it).";
    status.dataset.kind = "ready";
  }

  window.r1live = {
    state, splitTokens, encode, decode, renderPrompt, checkPrompt, pick, formatReward, expectedAnswer,
    checkInteger, verdict, generate, decodeResponse, inspect,
  };
  if ($("r1-live")) {
    start().catch((error) => {
      $("r1-live-status").textContent = `The panel could not start: ${error.message ?? error}`;
    });
  }
})();
