"""Pure segmentation core: DataFrames in, DataFrames out, scikit-learn conventions, no I/O.

Modules: features (clean transactions, features as of a cutoff), rfm, scaling, clustering,
naming (profiles and business names), stability (segment registry), drift, priority, and
engine (the `segment` facade the pipeline calls); scores: propensity (PropensityClassifier,
a scikit-learn estimator for any binary table, re-exported by scoring), selection and folds
(its cross-validated model choice), scoring (score targets over stacked cutoffs). Import what
you need from the modules;
this package imports nothing so `import segmentation.features` stays cheap.
"""
