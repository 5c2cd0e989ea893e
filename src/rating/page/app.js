// mhbench rating page. Talks only to this server's /api with the rater's token from the URL
// fragment (#token=...), which never appears in a request line or a referrer. Renders all text
// with textContent, so nothing in a conversation or reply can run as markup.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const NOTE_SEEN = 'mhbench-content-note-seen';

  const state = {
    session: null,   // rubric view, queue, progress
    index: 0,        // place in the queue
    item: null,      // the item shown
    loading: false,  // an item is being fetched: keys must not touch the one still shown
    draft: null,     // { scores, comment, safety_flag, cannot_rate }
    attr: 0,         // highlighted attribute
    submittedHere: 0, // submissions since the page opened, for break suggestions
    saving: Promise.resolve(),
    commentTimer: null,
    overlayDone: null,
  };

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      cache: 'no-store',
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ message: response.statusText }));
    if (!response.ok) {
      const error = new Error(data.message || 'HTTP ' + response.status);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fatal(message) {
    $('main').hidden = true;
    $('fatal').hidden = false;
    $('fatal').textContent = message;
  }

  function setStatus(text, isError) {
    const status = $('save-status');
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  // ---- overlays: content note, break suggestion, all done ----
  function showOverlay(title, paragraphs, onDone) {
    $('overlay-title').textContent = title;
    const body = $('overlay-body');
    body.replaceChildren(...paragraphs.map((p) => el('p', '', p)));
    $('overlay').hidden = false;
    state.overlayDone = onDone || null;
    $('overlay-ok').focus();
  }

  function closeOverlay() {
    $('overlay').hidden = true;
    const done = state.overlayDone;
    state.overlayDone = null;
    if (done) done();
  }

  // The study lead's words, set with the plan; plain text, one paragraph per line.
  function contentNote() {
    const paragraphs = state.session.content_note.split('\n').filter((p) => p.trim() !== '');
    showOverlay('Before you start: a content note', paragraphs, () => sessionStorage.setItem(NOTE_SEEN, '1'));
  }

  function breakSuggestion(onDone) {
    showOverlay('Time for a short break?', [
      'You have rated ' + state.submittedHere + ' replies since opening this page. ' +
        'This material can be heavy: stand up, look away from the screen, have a glass of water.',
      'Your ratings are saved. Press Enter when you are ready to continue.',
    ], onDone);
  }

  // ---- rendering ----
  function renderAttributes() {
    const list = $('attributes');
    list.replaceChildren();
    state.session.attributes.forEach((attribute, a) => {
      const li = el('li', 'attribute');
      li.id = 'attr-' + attribute.id;
      const h3 = el('h3');
      h3.append(el('span', '', (a + 1) + '. ' + attribute.name), el('span', 'group', attribute.group));
      li.append(h3, el('p', 'definition', attribute.definition));
      // After scoring, the chosen anchor stays in view for every attribute, not only the current one.
      const chosen = el('p', 'chosen');
      chosen.id = 'chosen-' + attribute.id;
      li.append(chosen);
      const scores = el('div', 'scores');
      attribute.anchors.forEach((anchor, i) => {
        const button = el('button', 'score');
        button.type = 'button';
        button.dataset.score = String(i + 1);
        button.title = anchor;
        button.append(el('b', '', String(i + 1)), el('span', '', anchor));
        button.addEventListener('click', () => { state.attr = a; setScore(i + 1); });
        scores.append(button);
      });
      li.append(scores);
      li.addEventListener('click', () => { state.attr = a; renderScores(); });
      list.append(li);
    });
  }

  function revealCurrentAttribute() {
    const attribute = state.session.attributes[state.attr];
    $('attr-' + attribute.id).scrollIntoView({ block: 'nearest' });
  }

  function renderScores() {
    const off = state.draft.cannot_rate;
    state.session.attributes.forEach((attribute, a) => {
      const li = $('attr-' + attribute.id);
      li.classList.toggle('current', a === state.attr && !off);
      li.classList.toggle('off', off);
      const score = state.draft.scores[attribute.id];
      li.classList.toggle('scored', Boolean(score) && !off);
      li.querySelectorAll('.score').forEach((button) => {
        button.classList.toggle('selected', Number(button.dataset.score) === score);
        button.disabled = off;
      });
      $('chosen-' + attribute.id).textContent = off || !score ? '' : score + ' · ' + attribute.anchors[score - 1];
    });
    $('safety-flag').checked = state.draft.safety_flag;
    $('cannot-rate').checked = off;
  }

  function renderProgress() {
    const { done, total } = state.session;
    $('progress-text').textContent = done + ' of ' + total + ' done';
    $('progress-fill').style.width = (total ? (100 * done) / total : 0) + '%';
  }

  function renderItem() {
    const item = state.item;
    const entry = state.session.queue[state.index];
    $('item-number').textContent = 'Reply ' + item.number + ' of ' + state.session.total;
    const badge = $('item-state');
    badge.textContent = entry.state === 'submitted' ? 'submitted' : entry.state === 'draft' ? 'draft saved' : 'new';
    if (state.draft.cannot_rate) badge.textContent += ' · cannot rate';
    badge.className = 'badge ' + entry.state;
    $('context').textContent = item.context;
    $('reply').textContent = item.reply;
    $('truncated').hidden = !item.truncated;
    $('comment').value = state.draft.comment;
    $('prev').disabled = state.index === 0;
    $('next').disabled = state.index >= state.session.queue.length - 1;
    renderScores();
    renderProgress();
  }

  // ---- loading and saving ----
  async function openItem(index) {
    await flushComment();
    await state.saving;
    const entry = state.session.queue[index];
    if (!entry) return;
    state.loading = true;
    let item;
    try {
      item = await api('GET', '/api/items/' + encodeURIComponent(entry.item_id));
    } finally {
      state.loading = false;
    }
    state.index = index;
    state.item = item;
    const saved = item.rating;
    state.draft = {
      scores: saved ? { ...saved.scores } : {},
      comment: saved ? saved.comment : '',
      safety_flag: saved ? saved.safety_flag : false,
      cannot_rate: saved ? saved.cannot_rate : false,
    };
    const firstMissing = state.session.attributes.findIndex((a) => !(a.id in state.draft.scores));
    state.attr = firstMissing === -1 ? 0 : firstMissing;
    renderItem();
    setStatus(saved ? 'Saved' : '');
    window.scrollTo(0, 0);
  }

  function save(submit) {
    const itemId = state.item.item_id;
    const index = state.index;
    // "Cannot rate" carries no scores; the ones entered stay on this page in case it is undone.
    const scores = state.draft.cannot_rate ? {} : { ...state.draft.scores };
    const body = { ...state.draft, scores, submit: Boolean(submit) };
    setStatus('Saving…');
    const run = async () => {
      const result = await api('PUT', '/api/items/' + encodeURIComponent(itemId), body);
      const entry = state.session.queue[index];
      entry.state = result.rating.submitted ? 'submitted' : 'draft';
      state.session.done = result.done;
      state.session.total = result.total;
      if (index === state.index) renderItem();
      setStatus('Saved ✓');
      return result;
    };
    const next = state.saving.then(run, run);
    state.saving = next.catch((error) => setStatus('Not saved: ' + error.message, true));
    return next;
  }

  async function flushComment() {
    if (state.commentTimer === null) return;
    clearTimeout(state.commentTimer);
    state.commentTimer = null;
    await save(false).catch(() => {});
  }

  function setScore(value) {
    if (state.draft.cannot_rate) {
      setStatus('Untick “Cannot rate” (X) to score this reply', true);
      return;
    }
    const attribute = state.session.attributes[state.attr];
    state.draft.scores[attribute.id] = value;
    if (state.attr < state.session.attributes.length - 1) state.attr += 1;
    renderScores();
    revealCurrentAttribute();
    save(false).catch(() => {});
  }

  function moveAttribute(step) {
    const count = state.session.attributes.length;
    state.attr = Math.min(count - 1, Math.max(0, state.attr + step));
    renderScores();
    revealCurrentAttribute();
  }

  async function submit() {
    const missing = state.draft.cannot_rate ? [] : state.session.attributes.filter((a) => !(a.id in state.draft.scores));
    if (missing.length) {
      state.attr = state.session.attributes.indexOf(missing[0]);
      renderScores();
      setStatus('Score every attribute first: ' + missing.map((a) => a.name).join(', '), true);
      return;
    }
    if (state.commentTimer !== null) { clearTimeout(state.commentTimer); state.commentTimer = null; }
    // Until the next reply is shown, keys must not change the one just submitted.
    state.loading = true;
    try {
      await save(true);
    } catch (error) {
      state.loading = false;
      return;
    }
    state.submittedHere += 1;
    const next = nextUnrated();
    const go = () => {
      if (next !== -1) return openItem(next).catch(showError);
      state.loading = false;
      return allDone();
    };
    const every = state.session.break_every;
    if (every > 0 && state.submittedHere % every === 0) {
      breakSuggestion(go);
    } else {
      go();
    }
  }

  function nextUnrated() {
    const queue = state.session.queue;
    for (let step = 1; step <= queue.length; step += 1) {
      const i = (state.index + step) % queue.length;
      if (queue[i].state !== 'submitted') return i;
    }
    return -1;
  }

  function allDone() {
    showOverlay('All done — thank you', [
      'You have submitted every reply in your queue. You can still go back with ← and → to review or edit; changes are saved.',
    ]);
  }

  function showError(error) {
    if (error.status === 401 || error.status === 403) fatal(error.message);
    else setStatus(error.message, true);
  }

  // ---- keyboard ----
  function onKey(event) {
    if (!$('overlay').hidden) {
      if (event.key === 'Enter' || event.key === 'Escape' || event.key === ' ') {
        event.preventDefault();
        closeOverlay();
      }
      return;
    }
    if (!state.item || state.loading) return;
    const target = event.target;
    if (target && target.id === 'comment') {
      if (event.key === 'Escape') { target.blur(); event.preventDefault(); }
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { target.blur(); event.preventDefault(); submit(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key >= '1' && key <= '5') { setScore(Number(key)); }
    else if (key === 'ArrowDown' || key === 'j') { moveAttribute(1); }
    else if (key === 'ArrowUp' || key === 'k') { moveAttribute(-1); }
    else if (key === 'ArrowLeft') { if (state.index > 0) openItem(state.index - 1).catch(showError); }
    else if (key === 'ArrowRight') { if (state.index < state.session.queue.length - 1) openItem(state.index + 1).catch(showError); }
    else if (key === 'Enter') { submit(); }
    else if (key === 's' || key === 'S') { toggleFlag(); }
    else if (key === 'x' || key === 'X') { toggleCannotRate(); }
    else if (key === 'c' || key === 'C') { $('comment').focus(); }
    else if (key === '?') { $('main').querySelector('.keys').toggleAttribute('open'); }
    else { return; }
    event.preventDefault();
  }

  function toggleFlag() {
    state.draft.safety_flag = !state.draft.safety_flag;
    renderScores();
    save(false).catch(() => {});
  }

  function toggleCannotRate() {
    state.draft.cannot_rate = !state.draft.cannot_rate;
    renderScores();
    $('cannot-rate').scrollIntoView({ block: 'nearest' });
    save(false).catch(() => {});
  }

  function wire() {
    document.addEventListener('keydown', onKey);
    $('overlay-ok').addEventListener('click', closeOverlay);
    $('submit').addEventListener('click', submit);
    $('prev').addEventListener('click', () => openItem(state.index - 1).catch(showError));
    $('next').addEventListener('click', () => openItem(state.index + 1).catch(showError));
    $('safety-flag').addEventListener('change', (event) => {
      state.draft.safety_flag = event.target.checked;
      save(false).catch(() => {});
    });
    $('cannot-rate').addEventListener('change', (event) => {
      state.draft.cannot_rate = event.target.checked;
      renderScores();
      save(false).catch(() => {});
    });
    $('comment').addEventListener('input', (event) => {
      state.draft.comment = event.target.value.slice(0, state.session.comment_max_chars);
      clearTimeout(state.commentTimer);
      state.commentTimer = setTimeout(() => { state.commentTimer = null; save(false).catch(() => {}); }, 600);
    });
    $('comment').addEventListener('blur', () => { flushComment(); });
    window.addEventListener('beforeunload', () => { if (state.commentTimer !== null) flushComment(); });
  }

  async function start() {
    if (!token) {
      fatal('This page needs your personal link (it ends in #token=…). Ask the study lead for it.');
      return;
    }
    wire();
    try {
      state.session = await api('GET', '/api/session');
    } catch (error) {
      fatal(error.message);
      return;
    }
    $('rater').textContent = '· ' + state.session.rater_id;
    $('safety-note').textContent = state.session.safety_note;
    renderAttributes();
    renderProgress();
    $('main').hidden = false;
    if (state.session.queue.length === 0) {
      fatal('Your queue is empty.');
      return;
    }
    const resume = state.session.queue.findIndex((entry) => entry.state !== 'submitted');
    await openItem(resume === -1 ? 0 : resume).catch(showError);
    if (!sessionStorage.getItem(NOTE_SEEN)) contentNote();
  }

  start();
})();
