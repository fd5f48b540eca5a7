// Page- and Worker-side half of bench/browser_crypto.py: seals and opens TOTAL bytes in
// CHUNK-sized pieces with each AEAD (age STREAM's nonces: 11-byte counter ‖ last flag),
// and age-encrypts and decrypts the same bytes with typage in one call each.
// Answers MB/s (10^6 bytes per second) per implementation and direction.

// The test data, made once per realm: generating it costs as much CPU as a tenth of
// the measured work, which the CPU-time figure must not include.
let cachedData = null;

function randomData(total) {
  if (cachedData?.length === total) return cachedData;
  const data = new Uint8Array(total);
  for (let at = 0; at < total; at += 65536) {
    crypto.getRandomValues(data.subarray(at, Math.min(total, at + 65536)));
  }
  cachedData = data;
  return data;
}

function streamNonce(index, last) {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setUint32(7, index);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function chunked(seal, open, data, chunk) {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const count = Math.ceil(data.length / chunk);
  const sealed = new Array(count);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    sealed[i] = seal(key, streamNonce(i, i === count - 1),
      data.subarray(i * chunk, (i + 1) * chunk));
  }
  const t1 = performance.now();
  let opened = null;
  for (let i = 0; i < count; i++) opened = open(key, streamNonce(i, i === count - 1), sealed[i]);
  const t2 = performance.now();
  if (!sameBytes(opened, data.subarray((count - 1) * chunk))) throw new Error("round trip failed");
  return { seal: data.length / 1e3 / (t1 - t0), open: data.length / 1e3 / (t2 - t1) };
}

async function typage(age, data) {
  const identity = await age.generateX25519Identity();
  const encrypter = new age.Encrypter();
  encrypter.addRecipient(await age.identityToRecipient(identity));
  const t0 = performance.now();
  const file = await encrypter.encrypt(data);
  const t1 = performance.now();
  const decrypter = new age.Decrypter();
  decrypter.addIdentity(identity);
  const opened = await decrypter.decrypt(file);
  const t2 = performance.now();
  if (!sameBytes(opened.subarray(opened.length - 16), data.subarray(data.length - 16))) {
    throw new Error("typage round trip failed");
  }
  return { seal: data.length / 1e3 / (t1 - t0), open: data.length / 1e3 / (t2 - t1) };
}

/** {wasm, noble, typage: {seal, open}} in MB/s for `total` bytes in `chunk` pieces. */
export async function run({ aeadUrl, extraUrl, total, chunk, only = null }) {
  const { loadAead } = await import(aeadUrl);
  const { chacha20poly1305, age } = await import(extraUrl);
  const aead = await loadAead();
  const data = randomData(total);
  const out = {};
  const wanted = (name) => only === null || only.includes(name);
  if (wanted("wasm")) {
    out.wasm = chunked((k, n, p) => aead.seal(k, n, p), (k, n, s) => aead.open(k, n, s),
      data, chunk);
  }
  if (wanted("noble")) {
    out.noble = chunked((k, n, p) => chacha20poly1305(k, n).encrypt(p),
      (k, n, s) => chacha20poly1305(k, n).decrypt(s), data, chunk);
  }
  if (wanted("typage")) out.typage = await typage(age, data);
  return out;
}
