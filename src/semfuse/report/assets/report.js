(function () {
  "use strict";

  /* Sortable tables: cells carry their raw value in data-value; numbers sort numerically, blanks last. */
  function cellValue(cell, numeric) {
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
    return numeric ? (raw === "" ? NaN : parseFloat(raw)) : raw.toLowerCase();
  }
  function sortTable(table, column, header) {
    const numeric = header.dataset.type === "num";
    const previous = header.getAttribute("aria-sort");
    let direction;
    if (previous === "ascending") direction = "descending";
    else if (previous === "descending") direction = "ascending";
    else direction = numeric && header.dataset.higher === "1" ? "descending" : "ascending"; /* best first */
    table.querySelectorAll("thead th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
    header.setAttribute("aria-sort", direction);
    const sign = direction === "ascending" ? 1 : -1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = cellValue(a.cells[column], numeric), y = cellValue(b.cells[column], numeric);
      if (!numeric) return sign * x.localeCompare(y);
      if (isNaN(x) || isNaN(y)) return (isNaN(x) ? 1 : 0) - (isNaN(y) ? 1 : 0);
      return sign * (x - y);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (header, column) {
      header.tabIndex = 0;
      header.addEventListener("click", function () { sortTable(table, column, header); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortTable(table, column, header); }
      });
    });
  });

  /* Legend of the CDF plots: hover highlights a method's curves, click hides them. */
  document.querySelectorAll(".legend-item").forEach(function (button) {
    const selector = '.curve[data-method="' + CSS.escape(button.dataset.method) + '"]';
    const curves = function () { return document.querySelectorAll(selector); };
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("mouseenter", function () {
      document.body.classList.add("highlighting");
      curves().forEach(function (curve) { curve.classList.add("highlight"); });
    });
    button.addEventListener("mouseleave", function () {
      document.body.classList.remove("highlighting");
      curves().forEach(function (curve) { curve.classList.remove("highlight"); });
    });
    button.addEventListener("click", function () {
      const off = button.classList.toggle("off");
      button.setAttribute("aria-pressed", String(off));
      curves().forEach(function (curve) { curve.classList.toggle("hidden", off); });
    });
  });

  function formatValue(value) {
    if (value === null) return "–";
    const size = Math.abs(value);
    if (size !== 0 && (size < 1e-2 || size >= 1e5)) return value.toExponential(2);
    return value.toFixed(size === 0 ? 4 : Math.max(0, 3 - Math.floor(Math.log10(size))));
  }
  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function swatch(colour) {
    const node = element("span", "swatch");
    if (colour) node.style.background = colour;
    return node;
  }

  /* Synchronised zoom of one pair: every image shows the same region, given by its centre (cx, cy) in
     fractions of the image and the magnification s. */
  const MAX_ZOOM = 64;
  function Zoom(article) {
    this.article = article;
    this.views = Array.from(article.querySelectorAll(".view"));
    this.s = 1; this.cx = 0.5; this.cy = 0.5;
  }
  Zoom.prototype.set = function (s, cx, cy) {
    this.s = Math.min(MAX_ZOOM, Math.max(1, s));
    const half = 0.5 / this.s;
    this.cx = Math.min(1 - half, Math.max(half, cx));
    this.cy = Math.min(1 - half, Math.max(half, cy));
    const tx = (0.5 - this.cx * this.s) * 100, ty = (0.5 - this.cy * this.s) * 100;
    const transform = this.s === 1 ? "" : "translate(" + tx + "%, " + ty + "%) scale(" + this.s + ")";
    this.views.forEach(function (view) {
      const image = view.querySelector("img");
      if (image) image.style.transform = transform;
    });
    if (this.s > 1) this.loadFull();
    this.article.classList.toggle("zoomed", this.s > 1);
    this.article.classList.toggle("pixelated", this.s >= 4);
    this.article.dataset.zoom = this.s.toFixed(3) + "," + this.cx.toFixed(4) + "," + this.cy.toFixed(4);
    this.article.querySelector(".zoom-level").textContent = this.s > 1 ? "zoom ×" + this.s.toFixed(1) : "";
  };
  Zoom.prototype.loadFull = function () {
    this.views.forEach(function (view) {
      const image = view.querySelector("img");
      if (!image || !image.dataset.full || image.dataset.loaded) return;
      image.dataset.loaded = "loading";
      const full = new Image();
      full.src = image.dataset.full;
      full.decode().then(function () { /* swap only once decoded: no blank frame */
        image.src = full.src;
        image.dataset.loaded = "full";
      }, function () { image.dataset.loaded = "failed"; });
    });
  };
  Zoom.prototype.point = function (view, event) { /* the image point under the pointer, in fractions */
    const rect = view.getBoundingClientRect();
    const px = (event.clientX - rect.left) / rect.width, py = (event.clientY - rect.top) / rect.height;
    return { px: px, py: py, x: this.cx + (px - 0.5) / this.s, y: this.cy + (py - 0.5) / this.s };
  };
  Zoom.prototype.attach = function () {
    const zoom = this;
    this.views.forEach(function (view) {
      let start = null, box = null;
      view.addEventListener("pointerdown", function (event) {
        if (event.button !== 0) return;
        view.setPointerCapture(event.pointerId);
        start = { x: event.clientX, y: event.clientY, cx: zoom.cx, cy: zoom.cy, moved: false,
                  at: zoom.point(view, event) };
      });
      view.addEventListener("pointermove", function (event) {
        if (!start) return;
        const rect = view.getBoundingClientRect();
        const dx = event.clientX - start.x, dy = event.clientY - start.y;
        if (!start.moved && Math.hypot(dx, dy) < 4) return;
        start.moved = true;
        if (zoom.s > 1) { /* pan */
          zoom.set(zoom.s, start.cx - dx / rect.width / zoom.s, start.cy - dy / rect.height / zoom.s);
          return;
        }
        if (!box) { box = element("div", "box"); view.appendChild(box); } /* draw the region to zoom into */
        box.style.left = Math.min(start.x, event.clientX) - rect.left + "px";
        box.style.top = Math.min(start.y, event.clientY) - rect.top + "px";
        box.style.width = Math.abs(dx) + "px";
        box.style.height = Math.abs(dy) + "px";
      });
      view.addEventListener("pointerup", function (event) {
        if (!start) return;
        const begin = start;
        start = null;
        if (box) {
          const end = zoom.point(view, event);
          box.remove(); box = null;
          const width = Math.abs(end.x - begin.at.x), height = Math.abs(end.y - begin.at.y);
          zoom.set(1 / Math.max(width, height, 1 / MAX_ZOOM), (end.x + begin.at.x) / 2, (end.y + begin.at.y) / 2);
        } else if (!begin.moved) {
          const here = begin.at;
          const s = event.shiftKey ? zoom.s / 2 : (zoom.s === 1 ? 4 : zoom.s * 2);
          zoom.set(s, here.x, here.y);
        }
      });
      view.addEventListener("dblclick", function () { zoom.set(1, 0.5, 0.5); });
      view.addEventListener("wheel", function (event) {
        if (zoom.s === 1 && !event.ctrlKey) return; /* leave page scrolling alone until the pair is zoomed */
        event.preventDefault();
        const here = zoom.point(view, event);
        const s = Math.min(MAX_ZOOM, Math.max(1, zoom.s * Math.exp(-event.deltaY * 0.0015)));
        zoom.set(s, here.x - (here.px - 0.5) / s, here.y - (here.py - 0.5) / s);
      }, { passive: false });
    });
    this.article.querySelector("button.reset").addEventListener("click", function () { zoom.set(1, 0.5, 0.5); });
  };

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll(".pair.zoomed").forEach(function (article) { article.zoom.set(1, 0.5, 0.5); });
  });

  function scoreTable(data, row) {
    const table = element("table", "pair-scores");
    const head = table.createTHead().insertRow();
    head.appendChild(element("th", "", "method"));
    data.metrics.forEach(function (metric) {
      head.appendChild(element("th", "", metric.name + (metric.higher ? " ↑" : " ↓")));
    });
    const best = data.metrics.map(function (metric, k) {
      const values = row.scores.map(function (scores) { return scores[k]; }).filter(function (v) { return v !== null; });
      if (!values.length) return null;
      return metric.higher ? Math.max.apply(null, values) : Math.min.apply(null, values);
    });
    const body = table.createTBody();
    data.methods.forEach(function (method, m) {
      const line = body.insertRow();
      const name = element("td");
      name.append(swatch(data.columns[m + 2].colour), method);
      line.appendChild(name);
      row.scores[m].forEach(function (value, k) {
        const cell = element("td", value !== null && value === best[k] && data.methods.length > 1 ? "best" : "",
                             formatValue(value));
        line.appendChild(cell);
      });
    });
    return table;
  }

  function renderRow(data, row) {
    const article = element("article", "pair");
    article.dataset.name = row.name;
    const title = element("h3");
    const reset = element("button", "reset", "reset zoom");
    reset.type = "button";
    title.append(row.name, reset, element("span", "zoom-level"));
    article.appendChild(title);
    const strip = element("div", "strip");
    const ratio = row.size ? row.size[0] + " / " + row.size[1] : "4 / 3";
    data.columns.forEach(function (column, c) {
      const tile = element("figure", "tile");
      const view = element("div", "view");
      view.style.aspectRatio = ratio;
      if (row.thumbs[c]) {
        const image = element("img");
        image.loading = "lazy";
        image.draggable = false;
        image.alt = column.label + ", " + row.name;
        image.dataset.full = row.full[c];
        image.src = row.thumbs[c];
        view.appendChild(image);
      } else {
        view.appendChild(element("span", "missing", "no image"));
      }
      const caption = element("figcaption");
      caption.append(swatch(column.colour), column.label);
      caption.title = column.label;
      tile.append(view, caption);
      strip.appendChild(tile);
    });
    article.appendChild(strip);
    if (data.metrics.length && row.scores) {
      const details = element("details");
      details.open = true;
      details.appendChild(element("summary", "", "metric values of this pair"));
      details.appendChild(scoreTable(data, row));
      article.appendChild(details);
    }
    const zoom = new Zoom(article);
    zoom.attach();
    zoom.set(1, 0.5, 0.5);
    article.zoom = zoom;
    return article;
  }

  function Gallery(root) {
    const data = JSON.parse(document.getElementById(root.dataset.source).textContent);
    const rowsNode = root.querySelector(".g-rows");
    const filter = root.querySelector(".g-filter"), size = root.querySelector(".g-size");
    const sort = root.querySelector(".g-sort"), method = root.querySelector(".g-method");
    const direction = root.querySelector(".g-dir");
    let page = 0;
    if (sort) {
      sort.appendChild(new Option("pair name", "name"));
      data.metrics.forEach(function (metric, k) { sort.appendChild(new Option(metric.name, String(k))); });
      data.methods.forEach(function (name, m) { method.appendChild(new Option(name, String(m))); });
      direction.appendChild(new Option("worst first", "worst"));
      direction.appendChild(new Option("best first", "best"));
    }
    function selected() {
      const text = filter.value.trim().toLowerCase();
      let rows = data.rows.filter(function (row) { return row.name.toLowerCase().indexOf(text) >= 0; });
      if (sort && sort.value !== "name") {
        const k = Number(sort.value), m = Number(method.value);
        const sign = (data.metrics[k].higher ? 1 : -1) * (direction.value === "best" ? -1 : 1);
        const key = function (row) { const v = row.scores[m][k]; return v === null ? NaN : v; };
        rows = rows.slice().sort(function (a, b) {
          const x = key(a), y = key(b);
          if (isNaN(x) || isNaN(y)) return (isNaN(x) ? 1 : 0) - (isNaN(y) ? 1 : 0);
          return sign * (x - y);
        });
      }
      return rows;
    }
    function render() {
      const rows = selected();
      const perPage = Number(size.value);
      const pages = Math.max(1, Math.ceil(rows.length / perPage));
      page = Math.min(Math.max(page, 0), pages - 1);
      rowsNode.replaceChildren.apply(rowsNode, rows.slice(page * perPage, (page + 1) * perPage).map(function (row) {
        return renderRow(data, row);
      }));
      root.querySelector(".g-page").textContent = "page " + (page + 1) + " of " + pages + " (" + rows.length +
        " of " + data.rows.length + " pairs)";
      root.querySelector(".g-prev").disabled = page === 0;
      root.querySelector(".g-next").disabled = page >= pages - 1;
      if (method) method.disabled = direction.disabled = sort.value === "name";
    }
    [filter, size, sort, method, direction].forEach(function (control) {
      if (control) control.addEventListener(control === filter ? "input" : "change", function () { page = 0; render(); });
    });
    root.querySelector(".g-prev").addEventListener("click", function () { page -= 1; render(); });
    root.querySelector(".g-next").addEventListener("click", function () { page += 1; render(); });
    render();
  }
  document.querySelectorAll(".gallery").forEach(Gallery);
})();
