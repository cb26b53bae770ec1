// MathJax 3 (SVG output), served from this site (assets/mathjax, copied at build time from the MathJax
// distribution shipped by the django-static-mathjax wheel): no CDN is contacted.
// Docstrings and pages: pymdownx.arithmatex wraps maths in .arithmatex elements with \( \) / \[ \].
// Notebook pages: markdown cells rendered by nbconvert keep $...$ and $$...$$ inside .jp-MarkdownOutput.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-MarkdownOutput|jp-RenderedMarkdown",
    enableMenu: false
  },
  svg: { fontCache: "global" }
};
if (typeof document$ !== "undefined") {
  // mkdocs-material's instant navigation: typeset each newly loaded page.
  document$.subscribe(function () {
    if (window.MathJax && window.MathJax.typesetPromise) {
      if (window.MathJax.startup.output.clearCache) window.MathJax.startup.output.clearCache();
      window.MathJax.typesetClear();
      window.MathJax.texReset();
      window.MathJax.typesetPromise();
    }
  });
}
