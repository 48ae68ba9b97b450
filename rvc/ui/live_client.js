// The Live tab's low-latency client (rvc/ui/live.py runs it after Start): the microphone through an AudioWorklet
// to the server's WebSocket (rvc/ui/live_socket.py) as 16-bit PCM in 20 ms chunks, the converted voice back into
// a playback queue in the same worklet, and a readout of the end-to-end latency measured here: how long after a
// sample was captured its converted sample plays (capture and playback run at the same rate, so that is the
// difference of the two counts), plus the crossfade and search the engine holds back, plus what the browser
// reports for its audio devices. The expression is the function Gradio calls with the ticket JSON the Start event
// returned ("" when it failed).
(() => {
  // The worklet's processor: captures 20 ms chunks for the socket, plays what comes back behind a jitter buffer
  // that grows after each gap, drops the oldest audio when blocks pile up, and posts its counts 4 times a second.
  const WORKLET = `
    class RvcLive extends AudioWorkletProcessor {
      constructor(options) {
        super();
        const o = options.processorOptions;
        this.chunk = o.chunk; this.block = o.block; this.jitter = o.jitter; this.maxJitter = o.maxJitter;
        this.step = o.step; this.out = new Int16Array(this.chunk); this.n = 0;
        this.queue = []; this.head = 0; this.queued = 0; this.debt = 0; this.started = false; this.starving = false;
        this.captured = 0; this.played = 0; this.peak = 0; this.gaps = 0; this.dropped = 0; this.delays = []; this.since = 0;
        this.port.onmessage = (e) => this.receive(new Int16Array(e.data));
      }
      receive(pcm) {
        if (!this.started) { this.started = true; this.debt = this.jitter; }  // the jitter buffer, in silence
        this.queue.push(pcm); this.queued += pcm.length;
        // more than a block and a half and the jitter buffer waiting (blocks came late, then together): the oldest
        // goes, so the delay stays bounded
        let extra = this.queued - (this.block + (this.block >> 1) + this.jitter);
        while (extra > 0 && this.queue.length) {
          const take = Math.min(this.queue[0].length - this.head, extra);
          this.advance(take); this.dropped += take; extra -= take;
        }
      }
      advance(k) {  // k samples of the queue's first block are done (played or dropped)
        this.head += k; this.queued -= k; this.played += k;
        if (this.head >= this.queue[0].length) { this.queue.shift(); this.head = 0; }
      }
      capture(x) {
        for (let i = 0; i < x.length; i++) {
          this.out[this.n++] = Math.max(-32768, Math.min(32767, Math.round(x[i] * 32767)));
          if (this.n === this.chunk) { this.port.postMessage(this.out.buffer, [this.out.buffer]); this.out = new Int16Array(this.chunk); this.n = 0; }
        }
        this.captured += x.length;
      }
      play(y) {
        let i = 0, fromStream = false;
        while (i < y.length) {
          if (this.debt > 0) { const k = Math.min(this.debt, y.length - i); y.fill(0, i, i + k); i += k; this.debt -= k; continue; }
          if (!this.queued) {
            if (this.started && !this.starving) {  // the next block is late: a gap, and a longer jitter buffer
              this.starving = true; this.gaps++; this.jitter = Math.min(this.maxJitter, this.jitter + this.step);
            }
            y.fill(0, i); break;
          }
          if (this.starving) { this.starving = false; this.debt = this.jitter; continue; }  // resume behind a cushion
          const first = this.queue[0], k = Math.min(first.length - this.head, y.length - i);
          for (let j = 0; j < k; j++) { y[i + j] = first[this.head + j] / 32768; this.peak = Math.max(this.peak, Math.abs(y[i + j])); }
          if (!fromStream) { this.delays.push(this.captured - this.played); if (this.delays.length > 400) this.delays.shift(); fromStream = true; }
          i += k; this.advance(k);
        }
      }
      report(n) {
        if ((this.since += n) < sampleRate / 4) return;
        this.since = 0;
        const d = this.delays.slice().sort((a, b) => a - b);
        this.port.postMessage({ stats: true, delay: d.length ? d[d.length >> 1] / sampleRate : null, gaps: this.gaps,
          dropped: this.dropped / sampleRate, jitter: this.jitter / sampleRate, played: this.played / sampleRate, peak: this.peak });
      }
      process(inputs, outputs) {
        const x = inputs[0] && inputs[0][0];
        if (x) this.capture(x);
        const y = outputs[0][0];
        this.play(y);
        for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(y);
        this.report(y.length);
        return true;
      }
    }
    registerProcessor("rvc-live", RvcLive);`;

  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
  const show = (text) => {
    const box = document.querySelector("#live-e2e");
    if (box) box.textContent = text;
  };

  // An AudioContext at the server's rate, the microphone as it is (no browser processing), the worklet loaded.
  const openAudio = async (rate, parts) => {
    parts.ctx = new AudioContext({ sampleRate: rate, latencyHint: "interactive" });
    parts.mic = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    await parts.ctx.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
  };

  // The worklet's node, its sizes in samples at the context's rate.
  const workletNode = (ctx, blockMs) => {
    const rate = ctx.sampleRate;
    return new AudioWorkletNode(ctx, "rvc-live", {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2],
      processorOptions: { chunk: Math.round(rate / 50), block: Math.round((rate * blockMs) / 1000),
        jitter: Math.round(rate * 0.02), step: Math.round(rate * 0.01), maxJitter: Math.round(rate * 0.3) },
    });
  };

  // The socket of the session's path, at the context's rate (ws: or wss: as the page).
  const openSocket = (path, rate) => {
    const address = new URL(path + "?rate=" + rate, window.location.href);
    address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(address);
    ws.binaryType = "arraybuffer";
    return ws;
  };

  // The readout from the worklet's counts (s) and the server's last figures; kept in window.rvcLive.latest.
  const readout = (t, s, server, ctx) => {
    const delay = 1000 * s.delay, lag = server.lag_ms, dev = 1000 * ((ctx.baseLatency || 0) + (ctx.outputLatency || 0));
    const e2e = delay + lag + dev;
    window.rvcLive.latest = { e2e_ms: e2e, delay_ms: delay, lag_ms: lag, device_ms: dev, gaps: s.gaps,
      dropped_s: s.dropped, jitter_ms: 1000 * s.jitter, played_s: s.played, peak: s.peak, server };
    show(fill(t.texts.readout, { e2e: e2e.toFixed(0), alg: server.algorithmic_latency_ms.toFixed(0),
      rest: (delay + lag - server.algorithmic_latency_ms).toFixed(0), dev: dev.toFixed(0), gaps: s.gaps,
      jitter: (1000 * s.jitter).toFixed(0), med: server.compute_ms_median.toFixed(0),
      p99: server.compute_ms_p99.toFixed(0), blocks: server.blocks, silent: server.silent_blocks,
      dropped: server.dropped_blocks, precision: server.precision }));
  };

  return async (ticketJson) => {
    const R = (window.rvcLive = window.rvcLive || {});
    if (R.stop) R.stop();
    if (!ticketJson) return;
    const t = JSON.parse(ticketJson);
    if (t.busy) {
      // every slot is taken: the page was told why; it tries again until one frees or Stop is pressed
      const timer = setTimeout(() => document.querySelector("#live-ws-start")?.click(), t.retry_ms);
      R.stop = () => clearTimeout(timer);
      return;
    }
    const parts = {};
    const stop = (text) => {
      const { ctx, mic, ws, node } = parts;
      try { ws && ws.readyState <= 1 && ws.close(1000); } catch (e) {}
      try { mic && mic.getTracks().forEach((tr) => tr.stop()); } catch (e) {}
      try { node && node.disconnect(); } catch (e) {}
      try { ctx && ctx.close(); } catch (e) {}
      if (text) show(text);
      R.stop = null;
    };
    R.stop = () => stop("");
    try {
      await openAudio(t.rate, parts);
    } catch (e) {
      stop(fill(t.texts.no_audio, { error: String((e && e.message) || e) }));
      return;
    }
    const { ctx, mic } = parts;
    const node = (parts.node = workletNode(ctx, t.block_ms));
    const ws = (parts.ws = openSocket(t.path, ctx.sampleRate));
    const server = {};
    node.port.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) {
        if (ws.readyState === 1) ws.send(e.data);
      } else if (e.data.delay !== null && server.type) {
        readout(t, e.data, server, ctx);
      }
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        node.port.postMessage(e.data, [e.data]);
        return;
      }
      const m = JSON.parse(e.data);
      if (m.type === "error") stop(fill(t.texts.error, { error: m.message }));
      else Object.assign(server, m);
    };
    ws.onopen = () => {
      ctx.createMediaStreamSource(mic).connect(node);
      node.connect(ctx.destination);
      show(t.texts.started);
    };
    ws.onclose = (e) => { if (R.stop) stop(e.code === 1000 || e.code === 1011 ? "" : t.texts.dropped); };
    await ctx.resume();
  };
})()
