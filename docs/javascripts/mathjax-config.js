// MathJax 3 (SVG output), served from this site (assets/mathjax, copied at build time from the MathJax
// distribution shipped by the django-static-mathjax wheel): no CDN is contacted.
// Docstrings and pages: pymdownx.arithmatex wraps maths in .arithmatex elements with \( \) / \[ \].
// Notebook pages: nbconvert keeps $...$ and $$...$$ in the paragraphs of .jp-MarkdownOutput.
// Elements with a class are skipped unless the class is one of those two; code and pre never are
// searched (MathJax's skipHtmlTags).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
    enableMenu: false
  },
  svg: { fontCache: "global" }
};
if (typeof document$ !== "undefined") {
  // mkdocs-material's instant navigation: typeset each newly loaded page.
  document$.subscribe(function () {
    if (window.MathJax && window.MathJax.typesetPromise) {
      window.MathJax.typesetClear();
      window.MathJax.texReset();
      window.MathJax.typesetPromise();
    }
  });
}
