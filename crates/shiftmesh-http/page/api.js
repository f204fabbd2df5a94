// The API, as the page calls it: JSON in, JSON out, errors as ApiError with the node's own
// words. The session cookie travels by itself (same origin).

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

export async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'unreachable', 'This machine\'s node does not answer; is it running?');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = text;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `${method} ${path}: ${response.status}`;
    throw new ApiError(response.status, data && data.kind, message);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body || {});
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
