"""Every convention a graded function's docstring states is exercised by a hidden test.

CONVENTIONS lists, per lab and graded function (a function whose body the student writes), what
its docstring promises: a parameter's shapes, dtypes, modes and default, what it returns, its
side effects, each with the words of the docstring and the hidden tests that exercise it (that
hand over that input, that mode, that default, or check that result). The test fails when a
graded function has no entry, a parameter of its signature has no row, a row's words are not in
the docstring (the table no longer describes the text), a row names no test, or names a test
that does not exist. Whether each test really catches a mistake of its kind is what the variant
proofs (test_lab0*_variants.py) show.

Conventions that only a GPU grader can exercise (a model "on any device") name the test that
moves the model to the grading device: on the CPU it passes trivially.
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from autograder.core.config import load_course

L1A, L1S, L1P = "test_lab01_activation_and_loss", "test_lab01_simple_rnn", "test_lab01_pytorch_rnn"
L2F, L2W, L2E, L2T = ("test_lab02_filters", "test_lab02_pos_weight", "test_lab02_evaluation",
                      "test_lab02_training")  # fmt: skip
L3D, L3T = "test_lab03_data_and_model", "test_lab03_training"
L4S, L4M, L4A = ("test_lab04_sines_and_model", "test_lab04_metrics_and_training",
                 "test_lab04_audio_and_scores")  # fmt: skip

# lab -> graded function ("Class.method" for methods) -> [(parameter or aspect, the docstring's
# words, ["test file::test", ...])]
CONVENTIONS: dict[str, dict[str, list[tuple[str, str, list[str]]]]] = {
    "lab01_rnn_from_scratch": {
        "sigmoid": [
            ("n", "a float or an array of any shape", [f"{L1A}::test_sigmoid_of_a_scalar",
                                                       f"{L1A}::test_sigmoid_matches_reference_on_random_inputs"]),
            ("n", "float32 included", [f"{L1A}::test_sigmoid_matches_reference_on_random_inputs"]),
            ("returns", "float64 array of the shape of n (a 0-d array for a float)",
             [f"{L1A}::test_sigmoid_matches_reference_on_random_inputs", f"{L1A}::test_sigmoid_of_a_scalar"]),
            ("returns", "with no overflow warning", [f"{L1A}::test_sigmoid_is_stable_at_extremes"]),
            ("returns", "for |n| <= 500 the true value to 12 significant digits",
             [f"{L1A}::test_sigmoid_is_stable_at_extremes", f"{L1A}::test_sigmoid_matches_reference_on_random_inputs"]),
            ("returns", "beyond that within 1e-16 of 0 or 1", [f"{L1A}::test_sigmoid_is_stable_at_extremes"]),
            ("returns", "clipping n to [-500, 500] first is allowed", [f"{L1A}::test_sigmoid_is_stable_at_extremes"]),
        ],
        "binary_crossentropy_loss": [
            ("a", "any shape, or a list of arrays", [f"{L1A}::test_bce_is_the_mean_over_all_entries"]),
            ("t", "with as many entries as a", [f"{L1A}::test_bce_is_the_mean_over_all_entries"]),
            ("returns", "a Python float", [f"{L1A}::test_bce_is_the_mean_over_all_entries"]),
            ("returns", "the mean over all entries (both flattened)", [f"{L1A}::test_bce_is_the_mean_over_all_entries"]),
            ("returns", "by an epsilon between 1e-16 and 1e-8",
             [f"{L1A}::test_bce_keeps_probabilities_zero_and_one_finite", f"{L1A}::test_bce_is_the_mean_over_all_entries",
              f"{L1S}::test_backward_returns_mean_step_loss", f"{L1S}::test_train_rnn_losses_match_reference"]),
        ],
        "binary_crossentropy_logit_gradient": [
            ("n", "any shape", [f"{L1A}::test_logit_gradient_matches_reference", f"{L1A}::test_logit_gradient_at_saturation"]),
            ("t", "same shape", [f"{L1A}::test_logit_gradient_matches_reference"]),
            ("returns", "float64 array of the shape of n", [f"{L1A}::test_logit_gradient_matches_reference"]),
            ("returns", "sigmoid(n) - t, per entry (not averaged)",
             [f"{L1A}::test_logit_gradient_matches_reference", f"{L1A}::test_logit_gradient_at_saturation"]),
        ],
        "SimpleRNN.forward": [
            ("inputs", "a list, or an array (T, R) (or (T,) when R = 1)", [f"{L1S}::test_forward_matches_reference"]),
            ("a1_prev", "initial hidden state (S1, 1) or (S1,)", [f"{L1S}::test_forward_starts_from_given_state"]),
            ("a1_prev", "zeros when None", [f"{L1S}::test_forward_matches_reference"]),
            ("returns", "the initial state first", [f"{L1S}::test_forward_starts_from_given_state"]),
            ("returns", '"n2_tot" (T columns (S2, 1), the net inputs of the output layer)',
             [f"{L1S}::test_forward_cache_holds_logits"]),
            ("returns", "Stacked arrays (T, S2), (T + 1, S1), (T, S2) of the same numbers are accepted too",
             [f"{L1S}::test_forward_matches_reference"]),
        ],
        "SimpleRNN.backward": [
            ("outputs", "the outputs returned by forward", [f"{L1S}::test_gradients_match_finite_differences"]),
            ("targets", "the T target vectors (S2 values each, 0 or 1)", [f"{L1S}::test_gradients_match_finite_differences"]),
            ("cache", "the cache returned by forward", [f"{L1S}::test_gradients_match_reference_on_long_sequence"]),
            ("returns", "the average loss over the sequence (the mean of the per-step losses)",
             [f"{L1S}::test_backward_returns_mean_step_loss"]),
            ("side effects", "the gradients of the loss summed over all time steps",
             [f"{L1S}::test_gradients_match_finite_differences", f"{L1S}::test_gradients_match_reference_on_long_sequence"]),
            ("side effects", "(starting from zero)", [f"{L1S}::test_backward_starts_from_zero_gradients"]),
            ("side effects", "then clips them with self.clip_gradients()", [f"{L1S}::test_backward_clips_each_gradient"]),
        ],
        "SimpleRNN.clip_gradients": [
            ("max_norm", "each gradient array whose Frobenius norm exceeds max_norm is rescaled to norm max_norm",
             [f"{L1S}::test_clipping_is_per_matrix", f"{L1S}::test_clipping_respects_max_norm_argument"]),
            ("max_norm", "the others are left unchanged", [f"{L1S}::test_clipping_is_per_matrix"]),
        ],
        "SimpleRNN.update_parameters": [
            ("side effects", "one steepest-descent step", [f"{L1S}::test_update_is_steepest_descent"]),
        ],
        "train_rnn": [
            ("rnn", "a SimpleRNN, trained in place", [f"{L1S}::test_train_rnn_trains_the_network"]),
            ("sequences", "a list, or an array (N, T, R)",
             [f"{L1S}::test_train_rnn_losses_match_reference", f"{L1S}::test_train_rnn_trains_the_network"]),
            ("targets", "the target sequences, in the same order", [f"{L1S}::test_train_rnn_losses_match_reference"]),
            ("epochs", "passes over the data; the sequences are visited in the given order",
             [f"{L1S}::test_train_rnn_losses_match_reference", f"{L1S}::test_train_rnn_trains_the_network"]),
            ("returns", "list of `epochs` floats", [f"{L1S}::test_train_rnn_losses_match_reference"]),
            ("returns", "the average over the sequences of the losses returned by backward",
             [f"{L1S}::test_train_rnn_losses_match_reference"]),
        ],
        "SimplePyTorchRNN.forward": [
            ("inputs", "Tensor of shape (batch_size, seq_len, R)",
             [f"{L1P}::test_forward_matches_numpy_reference_with_copied_weights", f"{L1P}::test_forward_keeps_batch_first"]),
            ("a1_prev", "Previous hidden state (batch_size, S1); zeros when None",
             [f"{L1P}::test_forward_starts_from_given_state", f"{L1P}::test_forward_matches_numpy_reference_with_copied_weights"]),
            ("returns", "Output probabilities (batch_size, seq_len, S2)",
             [f"{L1P}::test_forward_matches_numpy_reference_with_copied_weights"]),
            ("returns", "All hidden states (batch_size, seq_len+1, S1), the initial state first",
             [f"{L1P}::test_forward_matches_numpy_reference_with_copied_weights", f"{L1P}::test_forward_starts_from_given_state"]),
        ],
        "SimplePyTorchRNN.compute_loss": [
            ("outputs", "probabilities (B, T, S2)", [f"{L1P}::test_loss_of_equal_length_batch_is_plain_bce"]),
            ("targets", "0/1 or PAD_TARGET for padding", [f"{L1P}::test_loss_leaves_out_padded_steps"]),
            ("returns", "a differentiable scalar tensor", [f"{L1P}::test_train_step_is_one_sgd_step"]),
            ("returns", "nn.BCELoss()(outputs, targets) when nothing is padding",
             [f"{L1P}::test_loss_of_equal_length_batch_is_plain_bce"]),
        ],
        "SimplePyTorchRNN.train_step": [
            ("inputs", "zero_grad, forward, compute_loss", [f"{L1P}::test_train_step_zeroes_gradients",
                                                            f"{L1P}::test_train_step_is_one_sgd_step"]),
            ("targets", "compute_loss", [f"{L1P}::test_train_step_is_one_sgd_step"]),
            ("side effects", "torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm=5.0), optimizer step",
             [f"{L1P}::test_train_step_clips_before_the_step"]),
            ("returns", "the loss before the step, as a Python float", [f"{L1P}::test_train_step_is_one_sgd_step"]),
        ],
        "collate_sequences": [
            ("sequences", "B arrays (T_i, R) (or (T_i,) when R = 1)", [f"{L1P}::test_collate_pads_at_the_end"]),
            ("targets", "B arrays (T_i, 1) or (T_i,)", [f"{L1P}::test_collate_pads_at_the_end"]),
            ("returns", "X: float32 tensor (B, Tmax, R), padded with 0.0 after each sequence's end",
             [f"{L1P}::test_collate_pads_at_the_end"]),
            ("returns", "Y: float32 tensor (B, Tmax, 1), padded with PAD_TARGET", [f"{L1P}::test_collate_pads_at_the_end"]),
        ],
        "train_pytorch_rnn": [
            ("rnn", "a SimplePyTorchRNN (on any device), trained in place", [f"{L1P}::test_train_pytorch_rnn_trains_the_network"]),
            ("sequences", "lists, or arrays with one sequence per row",
             [f"{L1P}::test_train_pytorch_rnn_losses_match_reference", f"{L1P}::test_train_pytorch_rnn_trains_the_network"]),
            ("targets", "as for collate_sequences", [f"{L1P}::test_train_pytorch_rnn_losses_match_reference"]),
            ("epochs", "passes over the data", [f"{L1P}::test_train_pytorch_rnn_losses_match_reference",
                                                f"{L1P}::test_train_pytorch_rnn_trains_the_network"]),
            ("batch_size", "consecutive slices of batch_size sequences in the given order (no shuffling), the last "
                           "one possibly smaller",
             [f"{L1P}::test_train_pytorch_rnn_losses_match_reference", f"{L1P}::test_train_pytorch_rnn_trains_the_network"]),
            ("returns", "list of `epochs` floats: the mean of the batch losses (from train_step) in each epoch",
             [f"{L1P}::test_train_pytorch_rnn_losses_match_reference"]),
        ],
    },
    "lab02_onset_detection": {
        "impulse_response": [
            ("filter_fn", "a filter called as filter_fn(x, **params)",
             [f"{L2F}::test_impulse_responses_of_the_four_filters", f"{L2F}::test_impulse_response_closed_forms"]),
            ("length", "number of samples (>= 1) of the impulse and of the response",
             [f"{L2F}::test_impulse_response_closed_forms", f"{L2F}::test_impulse_response_defaults_and_type"]),
            ("params", "the filter's parameters, passed on unchanged", [f"{L2F}::test_impulse_responses_of_the_four_filters"]),
            ("returns", "float64 numpy array of shape (length,)", [f"{L2F}::test_impulse_response_defaults_and_type"]),
        ],
        "has_finite_response": [
            ("filter_fn", "filter_fn, **params: as for impulse_response",
             [f"{L2F}::test_finite_responses_are_recognised", f"{L2F}::test_window_length_is_honoured"]),
            ("params", "filter_fn, **params: as for impulse_response", [f"{L2F}::test_infinite_responses_are_recognised"]),
            ("length", "window length (>= 2) of the impulse response that is inspected",
             [f"{L2F}::test_window_length_is_honoured", f"{L2F}::test_finite_responses_are_recognised"]),
            ("returns", "a Python bool", [f"{L2F}::test_finite_responses_are_recognised"]),
            ("returns", "True when the last length // 2 samples",
             [f"{L2F}::test_infinite_responses_are_recognised", f"{L2F}::test_window_length_is_honoured"]),
        ],
        "pos_weight_from_targets": [
            ("Y", "a torch tensor or NumPy array of any shape",
             [f"{L2W}::test_binary_targets_match_reference", f"{L2W}::test_edge_cases_no_positives_and_all_positive"]),
            ("Y", "(binary or soft)", [f"{L2W}::test_soft_targets_thresholds_and_eps"]),
            ("threshold", "strictly greater than threshold", [f"{L2W}::test_soft_targets_thresholds_and_eps"]),
            ("eps", "keeps the weight finite when there are no positives",
             [f"{L2W}::test_edge_cases_no_positives_and_all_positive", f"{L2W}::test_soft_targets_thresholds_and_eps"]),
            ("returns", "(pos_frac, pos_weight), two Python floats", [f"{L2W}::test_binary_targets_match_reference"]),
            ("returns", "pos_weight = (1 - pos_frac) / max(pos_frac, eps)",
             [f"{L2W}::test_soft_targets_thresholds_and_eps", f"{L2W}::test_edge_cases_no_positives_and_all_positive"]),
        ],
        "make_bce_loss_from_dataset": [
            ("ds", "a dataset with the attribute Y", [f"{L2W}::test_loss_carries_the_datasets_pos_weight"]),
            ("returns", "nn.BCEWithLogitsLoss(pos_weight=w) (default reduction \"mean\")",
             [f"{L2W}::test_loss_value_matches_reference"]),
            ("returns", "a float32 tensor of shape (1,)", [f"{L2W}::test_loss_carries_the_datasets_pos_weight"]),
        ],
        "evaluate_model_dataset": [
            ("model", "on any device", [f"{L2E}::test_default_arguments"]),  # on a GPU grader
            ("ds", "dataset of pairs (x, y), each (T, 1)", [f"{L2E}::test_default_arguments"]),
            ("tolerance", "matching tolerance in time steps", [f"{L2E}::test_tolerance_and_height"]),
            ("height", "for the target curves and the predicted probabilities", [f"{L2E}::test_tolerance_and_height"]),
            ("distance", "None means 2*tolerance + 1", [f"{L2E}::test_default_arguments", f"{L2E}::test_distance_is_honoured"]),
            ("returns", "three Python floats in [0, 1]", [f"{L2E}::test_default_arguments"]),
            ("returns", "computed in eval mode under torch.no_grad()", [f"{L2E}::test_model_is_evaluated_in_eval_mode"]),
        ],
        "train_SimpleTanhRNN_PRF": [
            ("train_loader", "DataLoaders of (x, y) batches",
             [f"{L2T}::test_losses_match_reference", f"{L2T}::test_validation_data_does_not_change_the_model"]),
            ("val_loader", "DataLoaders of (x, y) batches",
             [f"{L2T}::test_unweighted_loss_without_clipping_and_a_small_last_batch"]),
            ("train_ds", "train_ds.Y gives pos_weight", [f"{L2T}::test_losses_match_reference"]),
            ("val_ds", "both are evaluated event-wise", [f"{L2T}::test_history_scores_are_training_and_validation_scores"]),
            ("hidden_size", "hidden_size, bidirectional: passed to SimpleTanhRNN",
             [f"{L2T}::test_losses_match_reference", f"{L2T}::test_history_has_one_record_per_epoch_with_the_default_settings"]),
            ("bidirectional", "hidden_size, bidirectional: passed to SimpleTanhRNN",
             [f"{L2T}::test_losses_match_reference", f"{L2T}::test_history_has_one_record_per_epoch_with_the_default_settings"]),
            ("lr", "Adam learning rate", [f"{L2T}::test_losses_match_reference",
                                          f"{L2T}::test_history_has_one_record_per_epoch_with_the_default_settings"]),
            ("epochs", "number of passes over train_loader",
             [f"{L2T}::test_history_has_one_record_per_epoch_with_the_default_settings"]),
            ("clip", "maximal global gradient norm, or None for no clipping",
             [f"{L2T}::test_gradients_are_clipped_before_each_step",
              f"{L2T}::test_unweighted_loss_without_clipping_and_a_small_last_batch"]),
            ("weight_balance", "use pos_weight from train_ds (True) or the unweighted loss (False)",
             [f"{L2T}::test_unweighted_loss_without_clipping_and_a_small_last_batch", f"{L2T}::test_losses_match_reference"]),
            ("tolerance", "tolerance, height, distance: passed to evaluate_model_dataset",
             [f"{L2T}::test_history_scores_are_training_and_validation_scores",
              f"{L2T}::test_history_has_one_record_per_epoch_with_the_default_settings"]),
            ("height", "tolerance, height, distance: passed to evaluate_model_dataset",
             [f"{L2T}::test_history_scores_are_training_and_validation_scores"]),
            ("distance", "tolerance, height, distance: passed to evaluate_model_dataset",
             [f"{L2T}::test_history_scores_are_training_and_validation_scores"]),
            ("recipe", "Build the model first, before anything else draws random numbers", [f"{L2T}::test_losses_match_reference"]),
            ("recipe", "clip the global gradient norm to `clip` with nn.utils.clip_grad_norm_",
             [f"{L2T}::test_gradients_are_clipped_before_each_step"]),
            ("recipe", "averaged over the sequences (each batch's loss times its number of sequences",
             [f"{L2T}::test_unweighted_loss_without_clipping_and_a_small_last_batch"]),
            ("recipe", "The validation data never contributes gradients or pos_weight",
             [f"{L2T}::test_validation_data_does_not_change_the_model"]),
            ("recipe", "No seeding here", [f"{L2T}::test_losses_match_reference"]),
            ("returns", "the trained SimpleTanhRNN on the device, in eval mode", [f"{L2T}::test_model_is_returned_in_eval_mode"]),
            ("returns", "a list of `epochs` dicts with the keys",
             [f"{L2T}::test_history_has_one_record_per_epoch_with_the_default_settings"]),
        ],
    },
    "lab03_sequence_generation": {
        "make_cosine_batch": [
            ("n", "number of sequences", [f"{L3D}::test_dataset_shapes_and_dtypes"]),
            ("length", "samples per sequence (L)", [f"{L3D}::test_dataset_shapes_and_dtypes"]),
            ("rng", "the only source of randomness. Amplitudes are drawn first, then phases, both with rng.uniform",
             [f"{L3D}::test_dataset_values_follow_the_rng", f"{L3D}::test_dataset_is_deterministic_for_a_seeded_rng"]),
            ("amp_range", "(low, high) of the uniform amplitude distribution",
             [f"{L3D}::test_dataset_values_follow_the_rng", f"{L3D}::test_dataset_ranges_and_spread"]),
            ("returns", "computed in float64 and converted to float32", [f"{L3D}::test_dataset_values_follow_the_rng"]),
            ("returns", "amp: float32 tensor (n,), uniform in [amp_range[0], amp_range[1])",
             [f"{L3D}::test_dataset_ranges_and_spread", f"{L3D}::test_dataset_shapes_and_dtypes"]),
            ("returns", "phase: float32 tensor (n,), uniform in [0, 2*pi)", [f"{L3D}::test_dataset_ranges_and_spread"]),
        ],
        "CosineGenerator.forward": [
            ("x", "float32 tensor (B, L), the true signal", [f"{L3D}::test_teacher_forced_forward_equals_one_rnn_call"]),
            ("teacher_forcing", "probability in [0, 1] of reading the true sample",
             [f"{L3D}::test_partial_teacher_forcing_coins_per_step_and_sequence"]),
            ("teacher_forcing", "(not detached)", [f"{L3D}::test_free_running_gradients_flow_through_fed_back_predictions"]),
            ("teacher_forcing", "drawn once at each step t >= warmup and never during the warm-up",
             [f"{L3D}::test_partial_teacher_forcing_coins_per_step_and_sequence"]),
            ("teacher_forcing", "no random numbers at all when it is 1.0 or 0.0",
             [f"{L3D}::test_no_random_numbers_without_partial_teacher_forcing"]),
            ("teacher_forcing", "teacher_forcing: probability", [f"{L3D}::test_teacher_forced_forward_equals_one_rnn_call"]),
            ("warmup", "the inputs of steps t < warmup are always the true samples",
             [f"{L3D}::test_free_running_forward_ignores_the_signal_after_warmup",
              f"{L3D}::test_partial_teacher_forcing_coins_per_step_and_sequence"]),
            ("returns", "out: float32 tensor (B, L-1); out[:, t] predicts x[:, t+1]",
             [f"{L3D}::test_teacher_forced_forward_equals_one_rnn_call"]),
        ],
        "generate": [
            ("model", "a CosineGenerator", [f"{L3D}::test_generate_matches_free_running_forward"]),
            ("seed_seq", "float32 tensor (B, S), S >= 1 true samples", [f"{L3D}::test_generate_matches_free_running_forward"]),
            ("n_steps", "number of samples to generate (>= 0)", [f"{L3D}::test_generate_depends_only_on_each_seed"]),
            ("returns", "element k estimates sample S + k", [f"{L3D}::test_generate_matches_free_running_forward"]),
            ("returns", "The model is left in the mode (train or eval) it was in", [f"{L3D}::test_generate_depends_only_on_each_seed"]),
        ],
        "teacher_forcing_schedule": [
            ("step", "at training step `step` (0-based)", [f"{L3T}::test_teacher_forcing_schedule_matches_reference"]),
            ("steps", "of `steps`", [f"{L3T}::test_teacher_forcing_schedule_matches_reference"]),
            ("tf_start", "Linear from tf_start (step 0) to tf_end", [f"{L3T}::test_teacher_forcing_schedule_matches_reference"]),
            ("tf_end", "then held at tf_end", [f"{L3T}::test_teacher_forcing_schedule_matches_reference"]),
            ("anneal_frac", "n_anneal = max(1, int(anneal_frac * steps))", [f"{L3T}::test_teacher_forcing_schedule_matches_reference"]),
            ("returns", "Returns a float", [f"{L3T}::test_teacher_forcing_schedule_matches_reference"]),
        ],
        "train_generator": [
            ("model", "Puts the model in training mode (model.train()) first and leaves it so",
             [f"{L3T}::test_model_is_put_in_training_mode"]),
            ("steps", "Train `model` for `steps` steps", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("batch_size", "make_cosine_batch(batch_size, length, rng, amp_range)", [f"{L3T}::test_first_loss_is_next_step_mse_after_warmup"]),
            ("rng", "make_cosine_batch(batch_size, length, rng, amp_range)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("length", "make_cosine_batch(batch_size, length, rng, amp_range)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("amp_range", "make_cosine_batch(batch_size, length, rng, amp_range)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("lr", "Adam(lr) with CosineAnnealingLR(T_max=steps, eta_min=lr/20)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("warmup", "minimises the MSE of out[:, warmup:] against x[:, warmup+1:]",
             [f"{L3T}::test_first_loss_is_next_step_mse_after_warmup"]),
            ("tf_start", "p = teacher_forcing_schedule(...)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("tf_end", "p = teacher_forcing_schedule(...)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("anneal_frac", "p = teacher_forcing_schedule(...)", [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("clip", "gradient-norm clipping at `clip` (None: no clipping) between backward and the optimizer step",
             [f"{L3T}::test_gradients_are_clipped_before_each_step", f"{L3T}::test_losses_and_weights_match_reference"]),
            ("verbose", "verbose=True prints the loss every 50 steps, and changes nothing else",
             [f"{L3T}::test_losses_and_weights_match_reference"]),
            ("returns", "list of `steps` floats: the training loss at each step (before its update)",
             [f"{L3T}::test_first_loss_is_next_step_mse_after_warmup", f"{L3T}::test_losses_and_weights_match_reference"]),
        ],
        "evaluate_generation": [
            ("model", "a CosineGenerator", [f"{L3T}::test_evaluation_matches_reference_on_a_trained_model"]),
            ("n", "n, length: number and length of the validation cosines (one batch)",
             [f"{L3T}::test_evaluation_matches_reference_on_a_trained_model", f"{L3T}::test_evaluation_of_a_zero_predictor_excludes_the_warmup"]),
            ("length", "n, length: number and length of the validation cosines (one batch)",
             [f"{L3T}::test_evaluation_of_a_zero_predictor_excludes_the_warmup"]),
            ("warmup", "true samples read before the model runs free", [f"{L3T}::test_evaluation_of_a_zero_predictor_excludes_the_warmup"]),
            ("rng", "None means np.random.default_rng(12345)", [f"{L3T}::test_evaluation_of_a_zero_predictor_excludes_the_warmup"]),
            ("returns", "mse: float, the mean of per_sequence_mse", [f"{L3T}::test_evaluation_matches_reference_on_a_trained_model"]),
            ("returns", "per_sequence_mse: float numpy array (n,)", [f"{L3T}::test_evaluation_matches_reference_on_a_trained_model"]),
            ("returns", "Runs the model in eval mode and leaves it in the mode it found it in",
             [f"{L3T}::test_evaluation_restores_the_mode_and_draws_no_random_numbers"]),
            ("returns", "draws no torch random numbers", [f"{L3T}::test_evaluation_restores_the_mode_and_draws_no_random_numbers"]),
        ],
    },
    "lab04_sequence_classification": {
        "make_sine_dataset": [
            ("n_per_class", "number of waves of each class (n)", [f"{L4S}::test_dataset_shapes_dtypes_and_class_major_labels"]),
            ("rng", "Draws, in this order", [f"{L4S}::test_dataset_values_follow_the_draws",
                                             f"{L4S}::test_noise_std_is_a_standard_deviation_and_data_follow_the_rng"]),
            ("n_points", "samples per wave, at t = np.linspace(0.0, 1.0, n_points) (both ends)",
             [f"{L4S}::test_dataset_values_follow_the_draws", f"{L4S}::test_dataset_shapes_dtypes_and_class_major_labels"]),
            ("noise_std", "the STANDARD DEVIATION of the Gaussian noise (not its variance)",
             [f"{L4S}::test_noise_std_is_a_standard_deviation_and_data_follow_the_rng"]),
            ("random_phase", "draw a phase per wave (True) or use phase 0 like the source (False)",
             [f"{L4S}::test_dataset_values_follow_the_draws"]),
            ("returns", "computed in float64 and cast to float32", [f"{L4S}::test_dataset_values_follow_the_draws"]),
            ("returns", "y: int64 array (3*n,), rows [k*n, (k+1)*n) have label k (class-major)",
             [f"{L4S}::test_dataset_shapes_dtypes_and_class_major_labels"]),
        ],
        "SequenceClassifier.forward": [
            ("x", "float32 tensor (B, T) (one feature per step; only when input_size == 1) or (B, T, input_size)",
             [f"{L4S}::test_last_pooling_equals_the_last_output", f"{L4S}::test_frames_are_sample_major_and_drop_the_tail"]),
            ("returns", "float32 tensor (B, n_classes) of logits (no softmax)", [f"{L4S}::test_last_pooling_equals_the_last_output"]),
            ("frame", "concatenated sample-major", [f"{L4S}::test_frames_are_sample_major_and_drop_the_tail"]),
            ("frame", "the last T % frame samples are dropped", [f"{L4S}::test_frames_are_sample_major_and_drop_the_tail"]),
            ("pooling", '"last": out[:, -1]', [f"{L4S}::test_last_pooling_equals_the_last_output"]),
            ("pooling", '"mean": out.mean(1); "meanmax": torch.cat([out.mean(1), out.amax(1)], dim=1) (mean first)',
             [f"{L4S}::test_mean_and_meanmax_pooling"]),
        ],
        "brier_score": [
            ("y_true", "int array (N,), labels in [0, K)", [f"{L4M}::test_brier_score_is_the_multiclass_sum"]),
            ("proba", "K = proba.shape[1] (never inferred from y_true: a class absent from y_true still counts)",
             [f"{L4M}::test_brier_score_edges_and_absent_classes"]),
            ("returns", "Python float in [0, 2]", [f"{L4M}::test_brier_score_edges_and_absent_classes"]),
            ("returns", "Computed in float64", [f"{L4M}::test_brier_score_edges_and_absent_classes"]),
        ],
        "per_class_brier": [
            ("y_true", "the binary Brier score of \"is it class k?\"", [f"{L4M}::test_per_class_brier_is_the_sources_table"]),
            ("proba", "mean_i (proba[i, k] - [y_i == k])**2", [f"{L4M}::test_per_class_brier_is_the_sources_table"]),
            ("returns", "Returns a float64 array (K,) that sums to brier_score(y_true, proba)",
             [f"{L4M}::test_per_class_brier_is_the_sources_table"]),
        ],
        "ranking_metrics": [
            ("y_true", "from the rank of the true class", [f"{L4M}::test_ranking_metrics_on_untied_scores"]),
            ("proba", "TIES COUNT AGAINST", [f"{L4M}::test_ties_count_against_the_true_class"]),
            ("returns", "Returns a dict of Python floats", [f"{L4M}::test_ranking_metrics_on_untied_scores"]),
        ],
        "train_classifier": [
            ("model", "maps float32 (B, T) or (B, T, F) to logits (B, K)",
             [f"{L4M}::test_losses_and_weights_match_the_reference", f"{L4M}::test_zero_budget_runs_one_batch_and_the_clock_starts_once"]),
            ("X", "NumPy arrays or tensors", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("y", "int64 (N,)", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("epochs", "number of passes over the data", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("rng", "each epoch draws order = rng.permutation(N) (its only use)",
             [f"{L4M}::test_zero_budget_runs_one_batch_and_the_clock_starts_once", f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("batch_size", "runs the batches order[i:i+batch_size] in turn (the last may be smaller)",
             [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("lr", "Adam's learning rate", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("lr_min", "CosineAnnealingLR(T_max=epochs * ceil(N / batch_size), eta_min=lr_min), stepped after every batch",
             [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("clip", "clip_grad_norm_ of all parameters at `clip` before each step (None: no clipping)",
             [f"{L4M}::test_losses_and_weights_match_the_reference", f"{L4M}::test_zero_budget_runs_one_batch_and_the_clock_starts_once"]),
            ("class_weight", "None or K floats, the `weight` of F.cross_entropy", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("time_budget_s", "start: taken once, before the first epoch",
             [f"{L4M}::test_zero_budget_runs_one_batch_and_the_clock_starts_once"]),
            ("time_budget_s", "so 0.0 runs exactly one batch", [f"{L4M}::test_zero_budget_runs_one_batch_and_the_clock_starts_once"]),
            ("mode", "model.train() first; the model is left in train mode", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("returns", "the mean of the batch losses weighted by batch size", [f"{L4M}::test_losses_and_weights_match_the_reference"]),
            ("returns", '"cpu_s": CPU seconds since the start', [f"{L4M}::test_zero_budget_runs_one_batch_and_the_clock_starts_once"]),
        ],
        "predict_proba": [
            ("model", "computed without gradients in eval() mode; the model's previous mode (train or eval) is restored",
             [f"{L4M}::test_predict_proba_is_a_float64_softmax_and_restores_the_mode"]),
            ("X", "the softmax of model(X[i:i+batch_size]) for consecutive batches",
             [f"{L4M}::test_predict_proba_is_a_float64_softmax_and_restores_the_mode"]),
            ("batch_size", "for consecutive batches", [f"{L4M}::test_predict_proba_is_a_float64_softmax_and_restores_the_mode"]),
            ("returns", "float64 array (N, K)", [f"{L4M}::test_predict_proba_is_a_float64_softmax_and_restores_the_mode"]),
            ("returns", "Rows sum to 1 within float32 precision", [f"{L4M}::test_predict_proba_is_a_float64_softmax_and_restores_the_mode"]),
        ],
        "read_wav_mono": [
            ("path", "Read a .wav file as one float64 channel", [f"{L4A}::test_read_wav_mono"]),
            ("returns", "int16 samples are divided by 32768 (converted to float BEFORE any arithmetic)", [f"{L4A}::test_read_wav_mono"]),
            ("returns", "float32/float64 samples are kept as they are", [f"{L4A}::test_read_wav_mono"]),
            ("returns", "any other sample type raises ValueError", [f"{L4A}::test_read_wav_mono"]),
            ("returns", "Several channels (frames, channels) are averaged", [f"{L4A}::test_read_wav_mono"]),
        ],
        "resample_clip": [
            ("x", "resample_poly(x, target_sr // g, orig_sr // g)", [f"{L4A}::test_resample_clip_is_polyphase"]),
            ("orig_sr", "g = gcd(orig_sr, target_sr)", [f"{L4A}::test_resample_clip_is_polyphase"]),
            ("target_sr", "g = gcd(orig_sr, target_sr)", [f"{L4A}::test_resample_clip_is_polyphase"]),
            ("returns", "Returns float64, length ceil(n * target_sr / orig_sr)", [f"{L4A}::test_resample_clip_is_polyphase"]),
            ("returns", "equal rates return the signal unchanged (as float64)", [f"{L4A}::test_resample_clip_is_polyphase"]),
        ],
        "normalise_clip": [
            ("x", "Min-max to [0, 1]: (x - min) / (max - min), float64", [f"{L4A}::test_normalise_clip"]),
            ("returns", "a constant clip gives zeros", [f"{L4A}::test_normalise_clip"]),
        ],
        "digitise": [
            ("x01", "values below 0 give 0, values at or above 1 give levels - 1", [f"{L4A}::test_digitise_uses_uniform_bins"]),
            ("levels", "into `levels` bins of width 1/levels", [f"{L4A}::test_digitise_uses_uniform_bins"]),
            ("returns", "Returns int64", [f"{L4A}::test_digitise_uses_uniform_bins"]),
        ],
        "one_hot_digitise": [
            ("x01", "row t has a single 1 at column digitise(x01, levels)[t]", [f"{L4A}::test_one_hot_digitise"]),
            ("levels", "float32 (n, levels)", [f"{L4A}::test_one_hot_digitise"]),
        ],
        "clip_features": [
            ("path", "read (mono), resample to target_sr, normalise, one-hot digitise, in that order",
             [f"{L4A}::test_load_author_split"]),
            ("target_sr", "resample to target_sr", [f"{L4A}::test_load_author_split"]),
            ("levels", "float32 (T, levels)", [f"{L4A}::test_load_author_split"]),
        ],
        "load_author_split": [
            ("folder", "the rows of folder/manifest.csv (columns file, label, split)", [f"{L4A}::test_load_author_split"]),
            ("split", "whose split matches, in manifest order", [f"{L4A}::test_load_author_split"]),
            ("target_sr", "X float32 (N, T, levels) of clip_features", [f"{L4A}::test_load_author_split"]),
            ("levels", "X float32 (N, T, levels) of clip_features", [f"{L4A}::test_load_author_split"]),
            ("returns", "y int64 (N,) from the label column", [f"{L4A}::test_load_author_split"]),
        ],
        "precision_recall_accuracy": [
            ("y_true", "accuracy = mean(y_true == y_pred)", [f"{L4A}::test_prf_matches_the_definition"]),
            ("y_pred", "accuracy = mean(y_true == y_pred)", [f"{L4A}::test_prf_matches_the_definition"]),
            ("positive", "with \"positive\" meaning a label equal to `positive`",
             [f"{L4A}::test_the_positive_label_matters", f"{L4A}::test_prf_matches_the_definition"]),
            ("returns", "0/0 gives 0.0 (no NaN, no warning)", [f"{L4A}::test_zero_over_zero_gives_zero"]),
            ("returns", "Returns a dict with Python floats \"accuracy\", \"precision\", \"recall\" and Python ints",
             [f"{L4A}::test_prf_matches_the_definition"]),
        ],
        "evaluate_classifier": [
            ("model", "proba = predict_proba(model, X, batch_size)", [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
            ("X", "proba = predict_proba(model, X, batch_size)", [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
            ("y", "Accuracy, precision, recall and Brier score of `model` on (X, y)",
             [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
            ("positive", "(of precision_recall_accuracy with `positive`)", [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
            ("batch_size", "proba = predict_proba(model, X, batch_size)", [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
            ("returns", "predictions proba.argmax(1) (ties: lowest index)", [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
            ("returns", "\"brier\" (brier_score: the [0, 2] convention, even for two classes)",
             [f"{L4A}::test_evaluate_classifier_matches_the_reference"]),
        ],
    },
}


def _normal(text: str) -> str:
    return " ".join(text.split())


def graded_functions(notebook) -> dict[str, ast.FunctionDef]:
    """The functions whose body the student writes (it holds a solution region), keyed by name
    ("Class.method" for methods)."""
    found = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        source = "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                           for line in cell.source.splitlines())  # fmt: skip
        lines = source.splitlines()
        tree = ast.parse(source)
        owners = {id(item): node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                  for item in node.body}  # fmt: skip
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and "BEGIN SOLUTION" in "\n".join(
                    lines[node.lineno - 1:node.end_lineno]):
                owner = owners.get(id(node))
                found[f"{owner}.{node.name}" if owner else node.name] = node
    return found


def _parameters(function: ast.FunctionDef) -> list[str]:
    arguments = function.args
    names = [argument.arg for argument in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    names += [star.arg for star in (arguments.vararg, arguments.kwarg) if star is not None]
    return [name for name in names if name != "self"]


def _hidden_tests(course, lab_id: str) -> set[str]:
    tests = set()
    for path in course.tests_dir(lab_id).glob("test_*.py"):
        tree = ast.parse(path.read_text())
        tests |= {f"{path.stem}::{node.name}" for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}  # fmt: skip
    return tests


LABS = sorted(CONVENTIONS)


@pytest.mark.parametrize("lab_id", LABS)
def test_every_convention_of_every_graded_function_has_a_hidden_test(lab_id):
    course = load_course()
    notebook = nbformat.read(course.lab(lab_id).notebook, as_version=4)
    functions = graded_functions(notebook)
    table = CONVENTIONS[lab_id]
    tests = _hidden_tests(course, lab_id)
    problems = [f"{name}: a graded function with no conventions listed" for name in sorted(set(functions) - set(table))]
    problems += [f"{name}: listed, but not a graded function of the notebook" for name in sorted(set(table) - set(functions))]
    for name in sorted(set(functions) & set(table)):
        docstring = _normal(ast.get_docstring(functions[name]) or "")
        aspects = {aspect for aspect, _, _ in table[name]}
        problems += [f"{name}: parameter {parameter!r} has no convention row"
                     for parameter in _parameters(functions[name]) if parameter not in aspects]  # fmt: skip
        for aspect, words, row_tests in table[name]:
            if _normal(words) not in docstring and not re.search(re.escape(_normal(words)), docstring, re.I):
                problems.append(f"{name} ({aspect}): the docstring does not say {words!r}")
            if not row_tests:
                problems.append(f"{name} ({aspect}): {words!r} has no hidden test")
            problems += [f"{name} ({aspect}): no hidden test {test}" for test in row_tests if test not in tests]
    assert not problems, "\n".join(problems)


def test_the_table_covers_every_lab():
    assert set(CONVENTIONS) == set(load_course().labs)
