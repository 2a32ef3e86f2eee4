// wapipe playground: the chat page. Plain JS, no build step, nothing loaded from elsewhere.
// State comes from the server as server-sent events (snapshot, user, message, typing);
// every action is a POST to the page's own API, with the token from the page's URL.
'use strict';

(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = (id) => document.getElementById(id);
  const STATUS_LEVEL = { sent: 1, delivered: 2, read: 3 };
  const PHOTO_TYPES = ['image/jpeg', 'image/png'];
  const MAX_PHOTO_BYTES = 5 * 1024 * 1024; // the Cloud API's image limit
  const MAX_PHOTO_SIDE = 1600; // other images are redrawn as JPEG at most this wide/high
  const TICKS = {
    sending: '\u25F7', accepted: '\u25F7', sent: '\u2713', delivered: '\u2713\u2713',
    read: '\u2713\u2713', failed: '!',
  };
  const state = {
    users: new Map(),
    messages: new Map(),
    typing: new Map(), // user key -> until (ms)
    current: localStorage.getItem('wapipe-playground-user') || null,
    asked: new Map(), // wamid -> receipt level already asked for
  };
  let typingTimer = null;

  // -- helpers ---------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function toast(text) {
    const box = $('toast');
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  async function api(path, body) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function call(path, body) {
    return api(path, body).catch((err) => { toast(err.message); return null; });
  }

  function clock(ms) {
    const d = new Date(ms);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }

  function userSubtitle(user) {
    if (user.wa_id) return `+${user.wa_id}`;
    return `${user.username || ''} \u00b7 ${user.user_id} (no phone number)`;
  }

  function messagesOf(key) {
    return [...state.messages.values()].filter((m) => m.user === key).sort((a, b) => a.seq - b.seq);
  }

  function previewOf(m) {
    const c = m.content || {};
    if (m.type === 'text') return c.text ? c.text.body : '';
    if (m.type === 'interactive') {
      const inter = c.interactive || {};
      const chosen = inter[inter.type];
      if (chosen && chosen.title) return chosen.title;
      return (inter.body && inter.body.text) || 'interactive message';
    }
    if (m.type === 'template') return `template ${c.template ? c.template.name : ''}`;
    if (m.type === 'image') return `\u25A3 ${(c.image && c.image.caption) || 'Photo'}`;
    return m.type;
  }

  // -- rendering: users ------------------------------------------------------------------

  function renderUsers() {
    const list = $('user-list');
    list.replaceChildren();
    for (const user of state.users.values()) {
      if (user.hidden) continue;
      const li = el('li', user.key === state.current ? 'current' : '');
      li.dataset.key = user.key;
      const avatar = el('div', `avatar${user.wa_id ? '' : ' username'}`, (user.name || '?')[0].toUpperCase());
      const meta = el('div', 'meta');
      meta.append(el('div', 'name', user.name), el('div', 'sub', userSubtitle(user)));
      const msgs = messagesOf(user.key);
      if (msgs.length) meta.append(el('div', 'preview', previewOf(msgs[msgs.length - 1])));
      li.append(avatar, meta);
      const unread = msgs.filter((m) => m.side === 'business' && m.status !== 'read').length;
      if (unread && user.key !== state.current) li.append(el('span', 'unread', unread));
      li.addEventListener('click', () => select(user.key));
      list.append(li);
    }
  }

  // -- rendering: the chat ---------------------------------------------------------------

  function ticks(status) {
    const span = el('span', 'ticks', TICKS[status] || '');
    span.dataset.status = status;
    span.title = status;
    return span;
  }

  function textBlock(text, className = 'text') {
    return el('div', className, text);
  }

  function mediaCard(icon, label, detail) {
    const card = el('div', 'card');
    const info = el('div');
    info.append(el('div', '', label));
    if (detail) info.append(el('div', 'small', detail));
    card.append(el('span', 'icon-big', icon), info);
    return card;
  }

  // A photo the playground holds the bytes of (m.media): served by its own API.
  function photo(m, alt) {
    const img = el('img', 'photo');
    img.src = `/api/media/${encodeURIComponent(m.media.id)}?token=${encodeURIComponent(token)}`;
    img.alt = alt;
    img.dataset.mediaId = m.media.id;
    img.dataset.mimeType = m.media.mime_type;
    return img;
  }

  function renderBusinessContent(m, bubble, after) {
    const c = m.content || {};
    const kind = m.type;
    if (kind === 'text') {
      bubble.append(textBlock(c.text.body));
    } else if (kind === 'interactive') {
      const inter = c.interactive || {};
      if (inter.header && inter.header.text) bubble.append(textBlock(inter.header.text, 'header'));
      if (inter.body && inter.body.text) bubble.append(textBlock(inter.body.text));
      if (inter.footer && inter.footer.text) bubble.append(textBlock(inter.footer.text, 'footer'));
      const action = inter.action || {};
      if (inter.type === 'button') {
        const box = el('div', 'reply-buttons');
        for (const b of action.buttons || []) {
          const reply = b.reply || {};
          const button = el('button', 'reply-button', reply.title);
          button.type = 'button';
          button.dataset.id = reply.id;
          button.addEventListener('click', () => sendReply('button_reply', { id: reply.id, title: reply.title }, m));
          box.append(button);
        }
        after.push(box);
      } else if (inter.type === 'list') {
        const open = el('button', 'list-open', `\u2630 ${action.button || 'Choose'}`);
        open.type = 'button';
        open.addEventListener('click', () => openList(m));
        bubble.append(open);
      } else if (inter.type === 'cta_url') {
        const params = action.parameters || {};
        bubble.append(mediaCard('\u2197', params.display_text || 'link', params.url || ''));
      } else {
        bubble.append(textBlock(`[interactive ${inter.type}]`, 'footer'));
      }
    } else if (kind === 'image' || kind === 'sticker') {
      const media = c[kind] || {};
      if (m.media) {
        bubble.append(photo(m, media.caption || kind));
      } else if (typeof media.link === 'string' && media.link.startsWith('data:image/')) {
        const img = el('img');
        img.src = media.link;
        img.alt = media.caption || kind;
        bubble.append(img);
      } else {
        bubble.append(mediaCard('\u25A3', kind, media.link || (media.id ? `media id ${media.id}` : '')));
      }
      if (media.caption) bubble.append(textBlock(media.caption));
    } else if (kind === 'audio' || kind === 'video' || kind === 'document') {
      const media = c[kind] || {};
      const icons = { audio: '\u266A', video: '\u25B6', document: '\u2263' };
      bubble.append(mediaCard(icons[kind], media.filename || kind, media.link || (media.id ? `media id ${media.id}` : '')));
      if (media.caption) bubble.append(textBlock(media.caption));
    } else if (kind === 'template') {
      const t = c.template || {};
      bubble.append(textBlock(`\u2263 template \u00b7 ${(t.language && t.language.code) || ''}`, 'template-tag'));
      bubble.append(textBlock(t.name || '', 'header'));
      const params = [];
      for (const comp of t.components || []) {
        for (const p of comp.parameters || []) {
          const value = p.text || (p.currency && p.currency.fallback_value) || (p.date_time && p.date_time.fallback_value) || p.type;
          params.push(`${comp.type}: ${value}`);
        }
      }
      if (params.length) {
        const ul = el('ul', 'params');
        for (const p of params) ul.append(el('li', '', p));
        bubble.append(ul);
      }
    } else if (kind === 'location') {
      const loc = c.location || {};
      bubble.append(mediaCard('\u2316', loc.name || 'location', [loc.address, `${loc.latitude}, ${loc.longitude}`].filter(Boolean).join(' \u00b7 ')));
    } else if (kind === 'reaction') {
      bubble.append(textBlock(`reacted ${(c.reaction && c.reaction.emoji) || ''}`));
    } else if (kind === 'contacts') {
      const names = (c.contacts || []).map((x) => (x.name && x.name.formatted_name) || '?');
      bubble.append(mediaCard('\u263A', names.join(', ') || 'contact', ''));
    } else {
      bubble.append(textBlock(`[${kind}]`, 'footer'));
    }
  }

  function renderUserContent(m, bubble) {
    const c = m.content || {};
    if (m.type === 'interactive') {
      const inter = c.interactive || {};
      const chosen = inter[inter.type] || {};
      const original = c.context && state.messages.get(c.context.id);
      if (original) bubble.append(el('div', 'quote', previewOf(original)));
      bubble.append(textBlock(chosen.title || chosen.id));
      if (chosen.description) bubble.append(textBlock(chosen.description, 'choice-detail'));
    } else if (m.type === 'text') {
      bubble.append(textBlock(c.text.body));
    } else if (m.type === 'image') {
      const image = c.image || {};
      if (m.media) bubble.append(photo(m, image.caption || 'photo'));
      else bubble.append(mediaCard('\u25A3', 'photo', image.mime_type || ''));
      if (image.caption) bubble.append(textBlock(image.caption));
    } else {
      bubble.append(textBlock(`[${m.type}]`, 'footer'));
    }
  }

  function renderMessage(m) {
    const wrap = el('div', `msg ${m.side}${m.status === 'failed' ? ' failed' : ''}`);
    wrap.dataset.id = m.id;
    wrap.dataset.type = m.type;
    const bubble = el('div', 'bubble');
    const after = [];
    if (m.side === 'business') renderBusinessContent(m, bubble, after);
    else renderUserContent(m, bubble);
    const meta = el('div', 'meta-line');
    meta.append(el('span', 'time', clock(m.at)), ticks(m.status));
    bubble.append(meta);
    wrap.append(bubble, ...after);
    if (m.error) wrap.append(el('div', 'error', m.error));
    return wrap;
  }

  function isTyping(key) {
    return (state.typing.get(key) || 0) > Date.now();
  }

  // The chat is patched, not rebuilt: a message's node is kept while what it shows is the
  // same, and a status change only swaps its ticks. Every event (a tick, "typing…")
  // re-renders, and a rebuilt button between a user's press and release is a click lost.
  const shown = { user: undefined, nodes: new Map(), note: null, typing: null };

  function signature(m) {
    const original = m.side === 'user' && m.content && m.content.context
      && state.messages.get(m.content.context.id);
    return JSON.stringify([m.type, m.content, m.media, m.at, m.error || null,
      m.status === 'failed', original ? previewOf(original) : null]);
  }

  function messageNode(m) {
    const sig = signature(m);
    const have = shown.nodes.get(m.id);
    if (have && have.sig === sig) {
      if (have.status !== m.status) {
        have.node.querySelector('.ticks').replaceWith(ticks(m.status));
        have.status = m.status;
      }
      return have.node;
    }
    const node = renderMessage(m);
    shown.nodes.set(m.id, { node, sig, status: m.status });
    return node;
  }

  function renderChat() {
    const user = state.users.get(state.current);
    const box = $('messages');
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    if (shown.user !== state.current || !user) {
      box.replaceChildren();
      shown.user = state.current;
      shown.nodes.clear();
      shown.note = el('div', 'day-note');
      shown.typing = el('div', 'typing-bubble', 'typing\u2026');
    }
    if (!user) {
      $('chat-name').textContent = 'No user';
      $('chat-sub').textContent = '';
      return;
    }
    $('chat-name').textContent = user.name;
    $('avatar').textContent = (user.name || '?')[0].toUpperCase();
    $('avatar').className = `avatar${user.wa_id ? '' : ' username'}`;
    const typing = isTyping(user.key);
    $('chat-sub').textContent = typing ? 'typing\u2026' : userSubtitle(user);
    $('chat-sub').className = typing ? 'typing' : '';
    const note = user.wa_id
      ? 'You are a WhatsApp user with a phone number. Say hello, or "I want to order".'
      : 'You are a username-only user: no phone number, only a business-scoped user id (BSUID).';
    if (shown.note.textContent !== note) shown.note.textContent = note;
    const wanted = [shown.note, ...messagesOf(user.key).map(messageNode)];
    if (typing) wanted.push(shown.typing);
    // only what changed moves: a node already in its place is not touched
    wanted.forEach((node, i) => {
      if (box.children[i] !== node) box.insertBefore(node, box.children[i] || null);
    });
    while (box.children.length > wanted.length) box.lastElementChild.remove();
    if (nearBottom || typing) box.scrollTop = box.scrollHeight;
    clearTimeout(typingTimer);
    if (typing) typingTimer = setTimeout(render, state.typing.get(user.key) - Date.now() + 50);
  }

  function render() {
    renderUsers();
    renderChat();
    sendReceipts();
  }

  // -- receipts: the phone shows a message (delivered), the user sees it (read) ----------------

  function sendReceipts() {
    const visible = document.visibilityState === 'visible';
    const want = { delivered: [], read: [] };
    for (const m of state.messages.values()) {
      if (m.side !== 'business') continue;
      const level = m.user === state.current && visible ? 3 : 2;
      if ((state.asked.get(m.id) || 0) >= level || (STATUS_LEVEL[m.status] || 0) >= level) continue;
      state.asked.set(m.id, level);
      want[level === 3 ? 'read' : 'delivered'].push(m.id);
    }
    for (const status of ['delivered', 'read']) {
      if (want[status].length) call('/api/receipts', { ids: want[status], status });
    }
  }

  // -- actions ---------------------------------------------------------------------------

  function select(key) {
    state.current = key;
    localStorage.setItem('wapipe-playground-user', key);
    $('users').classList.remove('open');
    $('messages').scrollTop = 0;
    render();
    $('messages').scrollTop = $('messages').scrollHeight;
  }

  async function sendTexts(texts) {
    if (!state.current || !texts.length) return;
    await call('/api/send', { user: state.current, texts });
  }

  function composerLines() {
    const box = $('text');
    const lines = box.value.split('\n').map((s) => s.trim()).filter(Boolean);
    box.value = '';
    box.focus();
    return lines;
  }

  async function sendReply(kind, reply, original) {
    await call('/api/send', { user: state.current, reply: { kind, ...reply }, to: original.id });
  }

  // -- photos: a local file, or a sample drawn here (no file needed) --------------------------

  function blobToBase64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(',', 2)[1] || '');
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  function canvasBlob(canvas, type, quality) {
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('cannot encode the image'))), type, quality);
    });
  }

  // JPEG/PNG under 5 MB go as they are; anything else the browser can read is redrawn as JPEG
  // (as WhatsApp converts what it sends).
  async function sendable(file) {
    if (PHOTO_TYPES.includes(file.type) && file.size <= MAX_PHOTO_BYTES) return file;
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return canvasBlob(canvas, 'image/jpeg', 0.85);
  }

  // The built-in sample: a pizza drawn on a canvas, as a PNG.
  function samplePhoto() {
    const canvas = document.createElement('canvas');
    canvas.width = 480;
    canvas.height = 360;
    const g = canvas.getContext('2d');
    const sky = g.createLinearGradient(0, 0, 0, 360);
    sky.addColorStop(0, '#f6d365');
    sky.addColorStop(1, '#fda085');
    g.fillStyle = sky;
    g.fillRect(0, 0, 480, 360);
    g.fillStyle = '#fff';
    g.beginPath(); g.arc(240, 190, 140, 0, Math.PI * 2); g.fill();
    g.fillStyle = '#e0a96d';
    g.beginPath(); g.arc(240, 190, 115, 0, Math.PI * 2); g.fill();
    g.fillStyle = '#d9412b';
    g.beginPath(); g.arc(240, 190, 100, 0, Math.PI * 2); g.fill();
    g.fillStyle = '#fff4d6';
    for (const [x, y, r] of [[200, 150, 16], [285, 170, 14], [230, 240, 18], [290, 230, 12], [185, 205, 11]]) {
      g.beginPath(); g.arc(x, y, r, 0, Math.PI * 2); g.fill();
    }
    g.fillStyle = '#2e7d32';
    for (const [x, y] of [[250, 140], [215, 195], [270, 205], [250, 265]]) {
      g.beginPath(); g.ellipse(x, y, 9, 5, 0.6, 0, Math.PI * 2); g.fill();
    }
    g.fillStyle = '#3b2f2f';
    g.font = 'bold 22px sans-serif';
    g.textAlign = 'center';
    g.fillText('wapipe sample photo', 240, 30);
    return canvasBlob(canvas, 'image/png');
  }

  async function sendPhoto(blobPromise) {
    closeList();
    if (!state.current) return;
    const user = state.current;
    const caption = composerLines().join('\n');
    let data;
    try {
      data = await blobToBase64(await blobPromise);
    } catch (err) {
      toast(`Cannot read this image: ${err.message || err}`);
      return;
    }
    await call('/api/send', { user, photo: { data, caption } });
  }

  function openPhotoSheet() {
    $('sheet-title').textContent = 'Send a photo';
    const body = $('sheet-body');
    body.replaceChildren();
    const choose = el('button', 'list-row');
    choose.type = 'button';
    choose.id = 'choose-photo';
    choose.append(el('span', 'row-title', 'Choose a photo\u2026'), el('span', 'row-description', 'A file from this computer (what you typed is its caption)'));
    choose.addEventListener('click', () => { closeList(); $('photo-file').click(); });
    const sample = el('button', 'list-row');
    sample.type = 'button';
    sample.id = 'sample-photo';
    sample.append(el('span', 'row-title', 'Send a sample photo'), el('span', 'row-description', 'A pizza drawn by this page (PNG)'));
    sample.addEventListener('click', () => sendPhoto(samplePhoto()));
    body.append(choose, sample);
    $('sheet').hidden = false;
  }

  function openList(m) {
    const inter = m.content.interactive || {};
    const action = inter.action || {};
    $('sheet-title').textContent = action.button || 'Choose';
    const body = $('sheet-body');
    body.replaceChildren();
    for (const section of action.sections || []) {
      if (section.title) body.append(el('h3', '', section.title));
      for (const row of section.rows || []) {
        const button = el('button', 'list-row');
        button.type = 'button';
        button.dataset.id = row.id;
        button.append(el('span', 'row-title', row.title));
        if (row.description) button.append(el('span', 'row-description', row.description));
        button.addEventListener('click', () => {
          closeList();
          const reply = { id: row.id, title: row.title };
          if (row.description) reply.description = row.description;
          sendReply('list_reply', reply, m);
        });
        body.append(button);
      }
    }
    $('sheet').hidden = false;
  }

  function closeList() {
    $('sheet').hidden = true;
  }

  async function newUser(kind, replaces) {
    const current = state.users.get(state.current);
    const name = replaces ? current.name : ($('new-name').value.trim() || (kind === 'phone' ? 'Guest' : 'Keza'));
    const user = await call('/api/users', { kind, name, replaces });
    if (user) {
      $('new-name').value = '';
      state.users.set(user.key, user);
      select(user.key);
    }
  }

  // -- the event stream ------------------------------------------------------------------

  function upsertUser(user) {
    state.users.set(user.key, user);
  }

  function pickCurrent() {
    const current = state.users.get(state.current);
    if (current && !current.hidden) return;
    const first = [...state.users.values()].find((u) => !u.hidden);
    state.current = first ? first.key : null;
    if (state.current) localStorage.setItem('wapipe-playground-user', state.current);
  }

  function connect() {
    const source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
    source.addEventListener('snapshot', (event) => {
      const snap = JSON.parse(event.data);
      state.users = new Map(snap.users.map((u) => [u.key, u]));
      state.messages = new Map(snap.messages.map((m) => [m.id, m]));
      state.typing = new Map(Object.entries(snap.typing));
      pickCurrent();
      $('banner').hidden = true;
      document.body.dataset.ready = 'yes';
      render();
    });
    source.addEventListener('user', (event) => {
      const user = JSON.parse(event.data);
      upsertUser(user);
      if (user.hidden && user.key === state.current) pickCurrent();
      render();
    });
    source.addEventListener('message', (event) => {
      const m = JSON.parse(event.data);
      state.messages.set(m.id, m);
      render();
    });
    source.addEventListener('typing', (event) => {
      const t = JSON.parse(event.data);
      state.typing.set(t.user, t.until);
      render();
    });
    source.onerror = () => {
      $('banner').textContent = 'Lost the playground server; reconnecting\u2026';
      $('banner').hidden = false;
    };
  }

  // -- wiring ----------------------------------------------------------------------------

  function start() {
    if (!token) {
      $('banner').textContent = 'Open the URL printed by `wapipe run` (it carries ?token=).';
      $('banner').hidden = false;
      return;
    }
    $('send').addEventListener('click', () => sendTexts(composerLines()));
    $('burst').addEventListener('click', () => {
      const lines = composerLines();
      const text = lines.join(' ') || 'hello';
      sendTexts([1, 2, 3].map((n) => `${text} (${n}/3)`));
    });
    $('text').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendTexts(composerLines());
      }
    });
    $('open-users').addEventListener('click', () => $('users').classList.add('open'));
    $('close-users').addEventListener('click', () => $('users').classList.remove('open'));
    $('new-phone').addEventListener('click', () => newUser('phone'));
    $('new-username').addEventListener('click', () => newUser('username'));
    $('reset').addEventListener('click', () => {
      const current = state.users.get(state.current);
      if (current) newUser(current.wa_id ? 'phone' : 'username', current.key);
    });
    $('attach').addEventListener('click', openPhotoSheet);
    $('photo-file').addEventListener('change', () => {
      const file = $('photo-file').files[0];
      $('photo-file').value = '';
      if (file) sendPhoto(sendable(file));
    });
    $('sheet-close').addEventListener('click', closeList);
    $('sheet').addEventListener('click', (event) => { if (event.target === $('sheet')) closeList(); });
    document.addEventListener('visibilitychange', sendReceipts);
    connect();
  }

  start();
})();
